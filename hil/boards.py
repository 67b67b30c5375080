"""hil/boards.yaml: one entry per board type (budgets, clock, flash tool, latency bound).

The one reader of the file: the pipeline's budget gate (ml/budget.py), the flash tool, the
HIL suites and the virtual board all load it here. Every field is checked (type, range,
known name) so a typo is one line naming the file, board and field, never a traceback or a
wrong flash command later.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ml.errors import KwsError

BOARDS_FILE = Path(__file__).with_name("boards.yaml")
_NAME = re.compile(r"^[a-z0-9_]+$")  # a board name goes into paths and protocol lines


class BoardsError(KwsError):
    """hil/boards.yaml is unreadable or a field is missing or wrong."""


@dataclass(frozen=True)
class Num:
    kind: type  # int or float
    lo: float
    hi: float | None = None
    lo_open: bool = False  # lo itself is not allowed (a positive float)

    def describe(self) -> str:
        noun = "integer" if self.kind is int else "number"
        if self.hi is None and self.lo in (0, 1) and (self.kind is int or self.lo_open):
            return f"a positive {noun}"
        left = "(" if self.lo_open else "["
        lo, hi = (str(int(x)) if float(x).is_integer() else f"{x:g}" for x in (self.lo, self.hi))
        return f"{'an' if self.kind is int else 'a'} {noun} in {left}{lo}, {hi}]"

    def ok(self, v: Any) -> bool:
        kinds = (int,) if self.kind is int else (int, float)
        if isinstance(v, bool) or not isinstance(v, kinds) or not math.isfinite(v):
            return False
        above = v > self.lo if self.lo_open else v >= self.lo
        return above and (self.hi is None or v <= self.hi)


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]

    def describe(self) -> str:
        return f"one of {', '.join(self.options)}"

    def ok(self, v: Any) -> bool:
        return v in self.options


@dataclass(frozen=True)
class Text:
    def describe(self) -> str:
        return "a non-empty string"

    def ok(self, v: Any) -> bool:
        return isinstance(v, str) and bool(v.strip())


@dataclass(frozen=True)
class TextList:
    def describe(self) -> str:
        return "a non-empty list of non-empty strings"

    def ok(self, v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(Text().ok(a) for a in v)


BYTES = Num(int, 1, None)
BAUD = Num(int, 300, 12_000_000)
SCHEMA: dict[str, Any] = {
    "name": Text(),
    "runner_label": Text(),
    "toolchain": Choice(("esp-idf", "arduino-cli")),
    "target": Text(),  # idf.py set-target (esp-idf)
    "fqbn": Text(),  # fully qualified board name (arduino-cli)
    "flash_tool": Choice(("esptool", "arduino-cli")),
    "flash_args": TextList(),
    "flash_baud": BAUD,
    "flash_baud_fallback": BAUD,
    "flash_image": Text(),
    "flash_timeout_s": Num(float, 1, 3600),  # a hung flash tool is killed after this
    "test_timeout_s": Num(float, 1, 7200),  # pytest --timeout for one HIL test
    "suite_timeout_s": Num(float, 10, 86400),  # one whole `pytest hil` run on this board
    "baud": BAUD,  # the protocol console
    "clock_hz": BYTES,
    "macs_per_cycle": Num(float, 0, None, lo_open=True),
    "flash_budget_bytes": BYTES,
    "model_budget_bytes": BYTES,
    "ram_budget_bytes": BYTES,
    "arena_budget_bytes": BYTES,
    "latency_bound_ms": Num(float, 0, 60_000, lo_open=True),
}
# What the pipeline's budget gate reads: enough for a boards file used only by `evaluate`.
BUDGET_FIELDS = (
    "clock_hz",
    "macs_per_cycle",
    "flash_budget_bytes",
    "model_budget_bytes",
    "ram_budget_bytes",
    "arena_budget_bytes",
)
# What flashing and the HIL suites read besides the budgets.
HIL_FIELDS = (
    "name",
    "runner_label",
    "toolchain",
    "flash_tool",
    "flash_args",
    "flash_image",
    "flash_timeout_s",
    "test_timeout_s",
    "suite_timeout_s",
    "baud",
    "latency_bound_ms",
)
# Required when a field has this value: (field, value) -> fields.
REQUIRED_IF = {
    ("toolchain", "esp-idf"): ("target",),
    ("toolchain", "arduino-cli"): ("fqbn",),
    ("flash_tool", "esptool"): ("flash_baud",),
}
NOT_ABOVE = (  # (field, must not exceed field)
    ("model_budget_bytes", "flash_budget_bytes"),
    ("arena_budget_bytes", "ram_budget_bytes"),
    ("test_timeout_s", "suite_timeout_s"),
)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice (PyYAML silently keeps the last)."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise BoardsError(f"duplicate key '{key}' at line {key_node.start_mark.line + 1}")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _read(path: Path) -> Any:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise BoardsError(f"{path}: cannot read ({reason})") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except BoardsError as exc:
        raise BoardsError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise BoardsError(f"{path}: not valid YAML{line}") from None


def check_board(path: Path, board: Any, facts: Any, need: tuple[str, ...]) -> None:
    """One board's entry: a BoardsError naming file, board and field at the first fault."""
    if not isinstance(board, str) or not _NAME.match(board):
        raise BoardsError(f"{path}: board name {board!r} must match [a-z0-9_]+")
    if not isinstance(facts, dict):
        raise BoardsError(f"{path}: board '{board}' must be a mapping")
    for field in facts:
        if field not in SCHEMA:
            raise BoardsError(
                f"{path}: board '{board}' has unknown field {field!r} (known: {', '.join(SCHEMA)})"
            )
    required = list(need)
    for (field, value), extra in REQUIRED_IF.items():
        if facts.get(field) == value:
            required += extra
    for field in required:
        if field not in facts:
            raise BoardsError(f"{path}: board '{board}' is missing '{field}'")
    for field, value in facts.items():
        spec = SCHEMA[field]
        if not spec.ok(value):
            raise BoardsError(
                f"{path}: board '{board}' field '{field}' = {value!r} must be {spec.describe()}"
            )
    for small, big in NOT_ABOVE:
        if small in facts and big in facts and facts[small] > facts[big]:
            raise BoardsError(
                f"{path}: board '{board}' field '{small}' = {facts[small]!r} exceeds "
                f"'{big}' = {facts[big]!r}"
            )


def read_boards(
    path: Path | str = BOARDS_FILE, need: tuple[str, ...] = BUDGET_FIELDS + HIL_FIELDS
) -> dict[str, dict[str, Any]]:
    """Board name -> facts, every field checked; `need` lists the fields that must be there
    (the budget gate needs fewer than flashing and the HIL suites)."""
    path = Path(path)
    data = _read(path)
    if not isinstance(data, dict) or not data:
        raise BoardsError(f"{path}: must map board names to their facts")
    for board, facts in data.items():
        check_board(path, board, facts, need)
    return data


@cache
def load_boards(path: Path = BOARDS_FILE) -> dict[str, dict[str, Any]]:
    """Board name -> facts with every field flashing and the HIL suites read (cached)."""
    return read_boards(path)


def board_facts(board: str, path: Path = BOARDS_FILE) -> dict[str, Any]:
    """The entry of one board; an unknown board is a one-line error naming the choices."""
    boards = load_boards(Path(path))
    if board not in boards:
        raise BoardsError(f"{path}: unknown board '{board}' (known: {', '.join(sorted(boards))})")
    return boards[board]


def board_names(path: Path = BOARDS_FILE) -> list[str]:
    return sorted(load_boards(Path(path)))


def emulated_instructions(mean_us: float, clock_hz: float) -> int:
    """Instructions behind an emulated board's `bench` microseconds.

    Under QEMU -icount each instruction advances virtual time by one period of the board's
    clock, so microseconds x clock in MHz is the count (to +-1 us of the clock).
    """
    return round(mean_us * clock_hz / 1e6)
