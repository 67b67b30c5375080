"""`make monitor-check` and the retrain pull request's table: a drift report (the monitor
stage's metrics/monitor.json) read, judged against params.yaml's thresholds, and shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ml.errors import KwsError

DISTRIBUTIONS = ("hist", "labels")


class DriftReportError(KwsError):
    """The drift report is missing or unreadable."""


class DriftAlarm(KwsError):
    """A board crossed a drift threshold (`make monitor-check` exits 1)."""


def alarms(metrics: dict[str, Any], params: dict[str, Any]) -> list[str]:
    mon = params["monitor"]
    lines = []
    for board, b in metrics.get("per_board", {}).items():
        for name in DISTRIBUTIONS:
            d = b.get(name, {})
            if not d.get("drift"):
                continue
            if d["psi"] > mon["max_psi"]:
                fig = f"psi {d['psi']} > monitor.max_psi {mon['max_psi']}"
            else:
                fig = f"chi-square p {d['p']} < monitor.min_chi2_p {mon['min_chi2_p']}"
            lines.append(
                f"drift: board {board}: distribution {name} vs reference "
                f"{metrics.get('reference')}: {fig} ({b['inferences']} inferences)"
            )
    return lines


def read_report(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DriftReportError(f"{path}: no drift report (run `make monitor`)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise DriftReportError(f"{path}: unreadable drift report ({exc})") from None


def table(metrics: dict[str, Any]) -> str:
    """The drift report as a Markdown table (the retrain pull request's body)."""
    rows = [
        f"Reference: `{metrics.get('reference')}`; {metrics.get('boards', 0)} board(s), "
        f"{metrics.get('boards_drifting', 0)} drifting.",
        "",
        "| board | inferences | hist PSI | hist p | labels PSI | labels p | drift |",
        "|---|---|---|---|---|---|---|",
    ]
    for board, b in metrics.get("per_board", {}).items():
        h, lb = b["hist"], b["labels"]
        verdict = "**yes**" if b["drift"] else ("no" if b["judged"] else "too few inferences")
        rows.append(
            f"| {board} | {b['inferences']} | {h['psi']} | {h['p']} | {lb['psi']} | {lb['p']} "
            f"| {verdict} |"
        )
    return "\n".join(rows)


def check(path: Path, params: dict[str, Any]) -> int:
    metrics = read_report(path)
    found = alarms(metrics, params)
    if found:
        more = f" (and {len(found) - 1} more in {path})" if len(found) > 1 else ""
        raise DriftAlarm(found[0] + more)
    print(f"monitor: no drift ({metrics.get('boards', 0)} board(s), {path})")
    return 0
