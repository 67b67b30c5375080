"""The one seam between the virtual board and the pipeline's helpers: the TFLM runtime
(ml.tflm) and the board budgets (ml.budget), so the virtual board judges a model exactly as
`evaluate` does."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from hil.boards import BOARDS_FILE
from ml import budget, tflm

REPO = BOARDS_FILE.resolve().parents[1]
model_io = tflm.model_io
model_ops = tflm.model_ops
measure_arena = tflm.measure_arena
count_macs = tflm.count_macs
interpreter = tflm._tflm_interpreter  # the runtime run_tflm uses, kept open across commands


@cache
def supported_ops() -> frozenset[str]:
    return frozenset(budget.supported_ops(REPO / budget.DEFAULT_OPS))


def arena_with_margin(measured: int) -> int:
    """kTensorArenaSize for a settings file that does not carry one (params margins)."""
    from ml.params import load_params

    ev = load_params(REPO / "params.yaml")["evaluate"]
    return budget.tensor_arena_size(measured, ev["arena_margin_percent"], ev["arena_margin_bytes"])


def model_version(blob: bytes) -> int:
    """The flatbuffer's schema version (3 for every current TFLite model)."""
    return int(tflm._model(blob).version)


def budget_detail(board: str, boards_file: Path, model_bytes: int, arena_size: int) -> str:
    """The firmware's budget detail (`model:<n>><budget>`, `arena:<n>><budget>`) or ''."""
    b = budget.load_boards(boards_file)[board]
    if model_bytes > b["model_budget_bytes"]:
        return f"model:{model_bytes}>{b['model_budget_bytes']}"
    if arena_size > b["arena_budget_bytes"]:
        return f"arena:{arena_size}>{b['arena_budget_bytes']}"
    return ""
