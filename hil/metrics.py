"""HIL run metrics: `[{"name", "value", "unit"}]` records in hil/results/<board>/metrics.json,
and the per-board summary table `make hil-virtual` prints.

A figure the board did not measure (the latency of a virtual board: MACs / (MACs per cycle x
clock) from hil/boards.yaml) carries `"estimated": true` in the JSON and `est.` in the table;
one counted by an emulator (the emulated Cortex-M4's instructions under QEMU -icount, as
time at the board's clock) carries `"emulated": true` and `emu.`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from ml.errors import KwsError, run_main

OPTIONAL_ROWS = ("instructions_per_inference",)  # rows only boards that count them show
TABLE = [  # (metric, heading, format)
    ("agreement", "agreement", "{:.2%}"),
    ("accuracy", "accuracy", "{:.2%}"),
    ("frontend_parity", "front-end parity", "{:.2%}"),
    ("latency_p50_ms", "latency p50 (ms)", "{:.2f}"),
    ("latency_p95_ms", "latency p95 (ms)", "{:.2f}"),
    ("instructions_per_inference", "instructions/inference", "{:,.0f}"),
    ("wire_efficiency", "wire efficiency", "{:.1%}"),
    ("acceptance_golden_s", "golden set time (s)", "{:.1f}"),
]


EST = " est."
EST_NOTE = "est. = estimated: MACs / (MACs per cycle x clock), hil/boards.yaml; not measured"
EMU = " emu."
EMU_NOTE = (
    "emu. = emulated: instructions counted by QEMU (-icount) on the emulated Cortex-M4, "
    "as time at the board's clock (1 instruction = 1 cycle); not a board time"
)


def record(
    name: str, value: float, unit: str, estimated: bool = False, emulated: bool = False
) -> dict[str, Any]:
    r: dict[str, Any] = {"name": name, "value": value, "unit": unit}
    if estimated:
        r["estimated"] = True
    if emulated:
        r["emulated"] = True
    return r


def write_metrics(path: Path, records: list[dict[str, Any]]) -> None:
    """Write atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(records, indent=1) + "\n")
    tmp.replace(path)


def read_metrics(path: Path) -> dict[str, dict[str, Any]]:
    try:
        records = json.loads(path.read_text())
        return {r["name"]: r for r in records}
    except (OSError, ValueError, KeyError, TypeError):
        raise KwsError(f"{path}: missing or not a metrics list") from None


def table(results: Path, boards: list[str]) -> str:
    """One column per board, one row per metric ('-' when a run did not produce it)."""
    data = {b: read_metrics(results / b / "metrics.json") for b in boards}
    width = max(len(h) for _, h, _ in TABLE) + 2
    lines = ["".ljust(width) + "".join(b.rjust(16) for b in boards)]
    estimated = emulated = False
    for name, heading, fmt in TABLE:
        if name in OPTIONAL_ROWS and not any(name in data[b] for b in boards):
            continue
        cells = []
        for b in boards:
            r = data[b].get(name)
            cell = fmt.format(r["value"]) if r else "-"
            if r and r.get("estimated"):
                cell, estimated = cell + EST, True
            if r and r.get("emulated"):
                cell, emulated = cell + EMU, True
            cells.append(cell.rjust(16))
        lines.append(heading.ljust(width) + "".join(cells))
    if estimated:
        lines.append(EST_NOTE)
    if emulated:
        lines.append(EMU_NOTE)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        raise KwsError("usage: python -m hil.metrics RESULTS_DIR BOARD [BOARD ...]")
    print(table(Path(argv[0]), argv[1:]))
    return 0


if __name__ == "__main__":
    run_main(main)
