"""hil/boards.yaml: one entry per board type (budgets, clock, flash tool, latency bound)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from ml.errors import KwsError

BOARDS_FILE = Path(__file__).with_name("boards.yaml")


@cache
def load_boards(path: Path = BOARDS_FILE) -> dict[str, dict[str, Any]]:
    """Board name -> facts, validated by the pipeline's loader (one reader of the file)."""
    from ml.budget import load_boards as load

    return load(path)


def board_facts(board: str, path: Path = BOARDS_FILE) -> dict[str, Any]:
    """The entry of one board; an unknown board is a one-line error naming the choices."""
    boards = load_boards(path)
    if board not in boards:
        raise KwsError(f"{path}: unknown board '{board}' (known: {', '.join(sorted(boards))})")
    return boards[board]


def board_names(path: Path = BOARDS_FILE) -> list[str]:
    return sorted(load_boards(path))
