"""Board budgets: does the int8 model fit each board in hil/boards.yaml?

Where things live on the device: the model array is `const` and stays in flash; the tensor
arena, the feature window and one clip of int16 audio (the raw-audio inference command)
live in RAM. So the gate checks, per board:

- model bytes            <= model_budget_bytes (the model's share of app flash)
- tensor arena size      <= arena_budget_bytes (kTensorArenaSize: measured + margin)
- arena + feature window + clip audio buffer <= ram_budget_bytes
- every op the model uses is registered by the firmware's op resolver
  (firmware/core/supported_ops.def)

and estimates a latency lower bound: MACs / (MACs per cycle x clock).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hil.boards import BUDGET_FIELDS, BoardsError, read_boards
from ml.errors import KwsError

DEFAULT_BOARDS = Path("hil/boards.yaml")
DEFAULT_OPS = Path("firmware/core/supported_ops.def")
_OP_LINE = re.compile(r"^\s*KWS_OP\(\s*([A-Z0-9_]+)\s*,\s*(\w+)\s*\)")


class BudgetError(KwsError):
    """A board file is malformed, or the model does not fit a board."""


def load_boards(path: Path | str = DEFAULT_BOARDS) -> dict[str, dict[str, Any]]:
    """Board name -> facts, checked by hil/boards.py (the one reader of the file); the gate
    needs only the budget fields, but every field present is validated."""
    try:
        return read_boards(path, need=BUDGET_FIELDS)
    except BoardsError as exc:
        raise BudgetError(str(exc)) from None


def supported_ops(path: Path | str = DEFAULT_OPS) -> list[str]:
    """Builtin op names the firmware's op resolver registers (KWS_OP lines of the .def)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise BudgetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    ops = [m.group(1) for line in text.splitlines() if (m := _OP_LINE.match(line))]
    if not ops:
        raise BudgetError(f"{path}: no KWS_OP(...) lines")
    return ops


def tensor_arena_size(measured: int, margin_percent: float, margin_bytes: int) -> int:
    """kTensorArenaSize: the measured arena plus a margin, rounded up to 16 bytes."""
    size = int(measured + measured * margin_percent / 100.0 + margin_bytes + 0.999999)
    return (size + 15) // 16 * 16


def est_latency_ms(macs: int, board: dict[str, Any]) -> float:
    """Latency lower bound of one inference: MACs / (MACs per cycle x clock), in ms."""
    return macs / (float(board["macs_per_cycle"]) * float(board["clock_hz"])) * 1000.0


@dataclass(frozen=True)
class ModelFacts:
    model_bytes: int
    tensor_arena_size: int  # measured + margin, as the firmware allocates it
    ram_extra_bytes: int  # feature window + clip audio buffer
    macs: int
    ops: list[str]


def check_board(name: str, board: dict[str, Any], m: ModelFacts, ops: list[str]) -> list[str]:
    """One-line failure messages for this board (empty when the model fits)."""
    fails = []
    if m.model_bytes > board["model_budget_bytes"]:
        fails.append(
            f"board {name}: model {m.model_bytes} bytes exceeds model_budget_bytes "
            f"{board['model_budget_bytes']}"
        )
    if m.tensor_arena_size > board["arena_budget_bytes"]:
        fails.append(
            f"board {name}: tensor arena {m.tensor_arena_size} bytes exceeds "
            f"arena_budget_bytes {board['arena_budget_bytes']}"
        )
    ram = m.tensor_arena_size + m.ram_extra_bytes
    if ram > board["ram_budget_bytes"]:
        fails.append(
            f"board {name}: RAM {ram} bytes (arena {m.tensor_arena_size} + buffers "
            f"{m.ram_extra_bytes}) exceeds ram_budget_bytes {board['ram_budget_bytes']}"
        )
    missing = [op for op in m.ops if op not in ops]
    if missing:
        fails.append(
            f"board {name}: model uses op {', '.join(missing)} not registered in supported_ops.def"
        )
    return fails


def evaluate_boards(
    boards: dict[str, dict[str, Any]], m: ModelFacts, ops: list[str]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Per board {est_latency_ms, fits, ...} and all failure lines."""
    result, failures = {}, []
    for name, board in boards.items():
        fails = check_board(name, board, m, ops)
        failures.extend(fails)
        result[name] = {
            "est_latency_ms": round(est_latency_ms(m.macs, board), 4),
            "fits": not fails,
            "ram_bytes": m.tensor_arena_size + m.ram_extra_bytes,
        }
    return result, failures
