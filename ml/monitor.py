"""DVC stage `monitor`: do the boards hear what the model was evaluated on?

    python -m ml.monitor --telemetry telemetry --reference reports/reference.json \
        --metrics metrics/monitor.json --plots metrics/monitor [--params params.yaml]
    python -m ml.monitor --check metrics/monitor.json      # make monitor-check

Per board in the telemetry store (hil/telemetry.py: one folder per board, JSON lines of
counter deltas), the deltas of the last monitor.window_days (ending at the store's newest
line, so a rerun on the same store gives the same report) are summed into two distributions,
as the firmware counts them (ml/drift.py): `hist` (top scores, 16 bins) and `labels`
(detections per keyword, and `none`). Each is compared with the evaluate stage's reference
named by monitor.reference (`test`: the test split, `stream`: the false-accept stream) by
the population stability index and a chi-square goodness-of-fit test (scipy). A board with
fewer than monitor.min_inferences is reported but not judged. A distribution drifts when
its PSI is above monitor.max_psi or its chi-square p-value below monitor.min_chi2_p.

Outputs: the report (metrics JSON: per board and distribution psi, chi2, p, drift) and a
plot (observed vs reference, per board). `--check` exits 1 with one line naming the board,
the distribution and the figure when a threshold was crossed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ml import drift
from ml.drift_check import DISTRIBUTIONS, alarms, check, read_report, table
from ml.errors import KwsError, run_main
from ml.fsutil import output_error, write_json_atomic
from ml.params import DEFAULT_PARAMS, load_params

log = logging.getLogger(__name__)


class MonitorError(KwsError):
    """An input of the monitor stage is unusable."""


def _time(rec: dict[str, Any], where: str) -> dt.datetime:
    try:
        t = dt.datetime.fromisoformat(rec["time"])
    except (KeyError, TypeError, ValueError):
        raise MonitorError(f"{where}: line without a valid 'time'") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def read_store(store: Path) -> dict[str, list[dict[str, Any]]]:
    """Board name -> its telemetry lines (oldest first). A missing store is an empty one."""
    boards: dict[str, list[dict[str, Any]]] = {}
    if not store.exists():
        return boards
    if not store.is_dir():
        raise MonitorError(f"{store}: the telemetry store must be a folder")
    for path in sorted(store.glob("*/*.jsonl")):
        try:
            lines = path.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise MonitorError(f"{path}: unreadable telemetry ({exc})") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                raise MonitorError(f"{where}: not a JSON line") from None
            d = rec.get("delta") if isinstance(rec, dict) else None
            if (
                not isinstance(d, dict)
                or not isinstance(d.get("hist"), list)
                or len(d["hist"]) != drift.HIST_BINS
                or not isinstance(d.get("detections"), dict)
            ):
                raise MonitorError(f"{where}: no 'delta' with hist[16] and detections")
            rec["_time"] = _time(rec, where)
            boards.setdefault(path.parent.name, []).append(rec)
    for recs in boards.values():
        recs.sort(key=lambda r: r["_time"])
    return boards


def window(boards: dict[str, list[dict[str, Any]]], days: int) -> dict[str, list[dict[str, Any]]]:
    """The lines of the last `days` (0: all) before the newest line of the store."""
    if days == 0 or not boards:
        return boards
    end = max(r["_time"] for recs in boards.values() for r in recs)
    start = end - dt.timedelta(days=days)
    return {b: [r for r in recs if r["_time"] > start] for b, recs in boards.items()}


def observed(recs: list[dict[str, Any]]) -> dict[str, Any]:
    """Summed deltas of a board as a distribution (inferences = those counted in hist)."""
    hist = np.zeros(drift.HIST_BINS, np.int64)
    det: dict[str, int] = {}
    for r in recs:
        hist += np.asarray(r["delta"]["hist"], np.int64)
        for k, v in r["delta"]["detections"].items():
            det[k] = det.get(k, 0) + int(v)
    return {"inferences": int(hist.sum()), "hist": hist.tolist(), "detections": det}


def aligned(obs: dict[str, Any], ref: dict[str, Any]) -> tuple[dict, dict]:
    """Both distributions over the union of their keywords (a missing one counts 0)."""
    keys = sorted(set(obs["detections"]) | set(ref["detections"]))
    return tuple(  # type: ignore[return-value]
        {**d, "detections": {k: int(d["detections"].get(k, 0)) for k in keys}} for d in (obs, ref)
    )


def compare(obs: dict[str, Any], ref: dict[str, Any], mon: dict[str, Any]) -> dict[str, Any]:
    """PSI and chi-square of both distributions; drift flags against the thresholds."""
    out: dict[str, Any] = {"inferences": obs["inferences"]}
    judged = obs["inferences"] >= mon["min_inferences"]
    out["judged"] = judged
    obs, ref = aligned(obs, ref)
    for name in DISTRIBUTIONS:
        _, o = drift.categories(obs, name)
        _, e = drift.categories(ref, name)
        stat, p = drift.chi2_p(o, e)
        psi = drift.psi(o, e)
        out[name] = {
            "psi": round(psi, 4),
            "chi2": round(stat, 3),
            "p": float(f"{p:.4g}"),
            "drift": bool(judged and (psi > mon["max_psi"] or p < mon["min_chi2_p"])),
        }
    out["drift"] = any(out[n]["drift"] for n in DISTRIBUTIONS)
    return out


def load_reference(path: Path, which: str) -> dict[str, Any]:
    try:
        ref = json.loads(Path(path).read_text())
        dist = ref["references"][which]
        if len(dist["hist"]) != drift.HIST_BINS or not isinstance(dist["detections"], dict):
            raise ValueError
        return dist
    except FileNotFoundError:
        raise MonitorError(f"{path}: no reference distributions (run the evaluate stage)") from None
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise MonitorError(
            f"{path}: no valid references.{which} (hist[16], detections) in the reference file"
        ) from None


def report(
    store: Path, reference: Path, params: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, tuple[dict, dict]]]:
    mon = params["monitor"]
    ref = load_reference(reference, mon["reference"])
    boards = window(read_store(store), mon["window_days"])
    per_board: dict[str, Any] = {}
    dists: dict[str, tuple[dict, dict]] = {}
    for name, recs in sorted(boards.items()):
        obs = observed(recs)
        per_board[name] = compare(obs, ref, mon)
        per_board[name]["resets"] = sum(bool(r.get("reset")) for r in recs)
        dists[name] = (obs, ref)
    metrics = {
        "reference": mon["reference"],
        "boards": len(per_board),
        "boards_drifting": sum(b["drift"] for b in per_board.values()),
        "per_board": per_board,
    }
    return metrics, dists


def plot(dists: dict[str, tuple[dict, dict]], path: Path, which: str) -> None:
    """Observed vs reference proportions, one row per board: top-score bins and labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(1, len(dists))
    fig, axes = plt.subplots(rows, 2, figsize=(11, 2.8 * rows), dpi=90, squeeze=False)
    for row, (board, (obs, ref)) in enumerate(sorted(dists.items())):
        for col, name in enumerate(DISTRIBUTIONS):
            ax = axes[row][col]
            a, b = aligned(obs, ref)
            names, o = drift.categories(a, name)
            _, e = drift.categories(b, name)
            x = np.arange(len(names))
            ax.bar(x - 0.2, o / max(o.sum(), 1), 0.4, label=f"{board} (n={int(o.sum())})")
            ax.bar(x + 0.2, e / max(e.sum(), 1), 0.4, label=f"reference: {which}")
            ax.set_xticks(x, names, rotation=60, fontsize=7)
            ax.set_title(f"{board}: {'top score (int8 bins)' if name == 'hist' else 'labels'}")
            ax.legend(fontsize=7)
    if not dists:
        axes[0][0].text(0.5, 0.5, "no telemetry", ha="center")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.monitor", description=__doc__.split("\n")[0])
    ap.add_argument("--check", type=Path, help="only check this drift report; exit 1 on drift")
    ap.add_argument("--table", type=Path, help="only print this drift report as Markdown")
    ap.add_argument("--telemetry", type=Path, help="telemetry store (hil/telemetry.py)")
    ap.add_argument("--reference", type=Path, help="evaluate's reference distributions")
    ap.add_argument("--metrics", type=Path, help="drift report JSON to write")
    ap.add_argument("--plots", type=Path, help="folder for the drift plot")
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    if args.check:
        return check(args.check, params)
    if args.table:
        print(table(read_report(args.table)))
        return 0
    missing = [n for n in ("telemetry", "reference", "metrics", "plots") if not getattr(args, n)]
    if missing:
        raise MonitorError(f"python -m ml.monitor: missing {', '.join('--' + n for n in missing)}")
    metrics, dists = report(args.telemetry, args.reference, params)
    try:
        args.plots.mkdir(parents=True, exist_ok=True)
        tmp = args.plots / ".drift.png.tmp"
        plot(dists, tmp, params["monitor"]["reference"])
        os.replace(tmp, args.plots / "drift.png")
        write_json_atomic(args.metrics, metrics)
    except OSError as exc:
        raise output_error(exc.filename or args.metrics, exc) from None
    for line in alarms(metrics, params):
        log.warning("%s", line)
    log.info(
        "monitor: %d board(s), %d drifting -> %s",
        metrics["boards"],
        metrics["boards_drifting"],
        args.metrics,
    )
    return 0


if __name__ == "__main__":
    run_main(main)
