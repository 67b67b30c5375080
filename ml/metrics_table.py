"""`make metrics`: the readable table of an evaluate.json (figures, boards, per class)."""

from __future__ import annotations

import json
from pathlib import Path

from ml.errors import KwsError


class MetricsFileError(KwsError):
    """No evaluate.json yet, or one that cannot be read."""


def metrics_table(path: Path, per_class_path: Path | None = None) -> str:
    """A readable table of an evaluate.json (for `make metrics`), with per-class figures."""
    try:
        m = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise MetricsFileError(f"{path}: no metrics yet (run `make repro`)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise MetricsFileError(f"{path}: unreadable metrics ({exc})") from None
    rows = [(k, v) for k, v in m.items() if not isinstance(v, dict)]
    boards = {k: v for k, v in m.items() if isinstance(v, dict) and "fits" in v}
    width = max(len(k) for k, _ in rows) if rows else 10
    lines = [f"{'figure':<{width}}  value", f"{'-' * width}  -----"]
    lines += [f"{k:<{width}}  {v}" for k, v in rows]
    if boards:
        lines += ["", f"{'board':<12} {'est_latency_ms':>15} {'ram_bytes':>10}  fits"]
        for name, b in boards.items():
            lines.append(
                f"{name:<12} {b.get('est_latency_ms', ''):>15} {b.get('ram_bytes', ''):>10}  "
                f"{b.get('fits')}"
            )
    per_class = m.get("per_class", {})
    if per_class_path is not None and per_class_path.is_file():
        per_class = {r["label"]: r for r in json.loads(per_class_path.read_text())}
    if per_class:
        lines += ["", f"{'label':<12} {'precision':>9} {'recall':>7} {'support':>8}"]
        for label, v in per_class.items():
            lines.append(
                f"{label:<12} {v.get('precision', ''):>9} {v.get('recall', ''):>7} "
                f"{v.get('support', ''):>8}"
            )
    return "\n".join(lines)
