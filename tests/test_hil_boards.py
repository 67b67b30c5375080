"""hil/boards.yaml: every field flashing, the HIL suites and the budget gate read is checked;
a bad one is one line naming the file, board and field (exit 1, no traceback)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hil.boards import BOARDS_FILE, SCHEMA, BoardsError, emulated_instructions, read_boards
from ml import budget

REPO = Path(__file__).resolve().parents[1]
GOOD = yaml.safe_load(BOARDS_FILE.read_text())


def test_repo_file_is_valid_and_complete():
    boards = read_boards(BOARDS_FILE)
    assert {"esp32", "nano33ble"} <= set(boards)
    for facts in boards.values():
        assert {"flash_timeout_s", "test_timeout_s", "suite_timeout_s", "baud"} <= set(facts)


def _with(board: str, field: str, value: object) -> dict:
    data = copy.deepcopy(GOOD)
    if value is _DROP:
        del data[board][field]
    else:
        data[board][field] = value
    return data


_DROP = object()
BAUD = "must be an integer in [300, 12000000]"
LIST = "must be a non-empty list of non-empty strings"
BAD = [  # (board, field, value, what is wrong: after "board 'B' field 'F' = V " or whole)
    ("esp32", "baud", "fast", BAUD),
    ("esp32", "baud", 0, BAUD),
    ("esp32", "baud", True, BAUD),
    ("esp32", "flash_baud", 115200.5, BAUD),
    ("esp32", "flash_baud_fallback", -1, BAUD),
    ("esp32", "flash_tool", "openocd", "must be one of esptool, arduino-cli"),
    ("esp32", "flash_args", "write-flash", LIST),
    ("esp32", "flash_args", [], LIST),
    ("esp32", "flash_args", ["--chip", 32], LIST),
    ("esp32", "flash_image", "", "must be a non-empty string"),
    ("esp32", "flash_timeout_s", 0, "must be a number in [1, 3600]"),
    ("esp32", "flash_timeout_s", float("nan"), "must be a number in [1, 3600]"),
    ("esp32", "test_timeout_s", float("inf"), "must be a number in [1, 7200]"),
    ("esp32", "suite_timeout_s", "1h", "must be a number in [10, 86400]"),
    ("esp32", "test_timeout_s", 7000, "exceeds 'suite_timeout_s' = 3600"),
    ("esp32", "latency_bound_ms", 0, "must be a number in (0, 60000]"),
    ("esp32", "macs_per_cycle", 0, "must be a positive number"),
    ("esp32", "clock_hz", 2.4e8, "must be a positive integer"),
    ("esp32", "arena_budget_bytes", 10**6, "exceeds 'ram_budget_bytes' = 327680"),
    ("esp32", "model_budget_bytes", 2**21, "exceeds 'flash_budget_bytes' = 1048576"),
    ("esp32", "toolchain", "platformio", "must be one of esp-idf, arduino-cli"),
    ("esp32", "target", _DROP, "board 'esp32' is missing 'target'"),
    ("esp32", "flash_baud", _DROP, "board 'esp32' is missing 'flash_baud'"),
    ("nano33ble", "fqbn", _DROP, "board 'nano33ble' is missing 'fqbn'"),
    ("nano33ble", "fqbn", None, "must be a non-empty string"),
    ("nano33ble", "runner_label", _DROP, "board 'nano33ble' is missing 'runner_label'"),
    ("nano33ble", "flash_timeout_s", _DROP, "board 'nano33ble' is missing 'flash_timeout_s'"),
    ("nano33ble", "baud_rate", 9600,
     f"board 'nano33ble' has unknown field 'baud_rate' (known: {', '.join(SCHEMA)})"),
]  # fmt: skip


def expected(board: str, field: str, value: object, what: str) -> str:
    if what.startswith(("must", "exceeds")):
        return f"board '{board}' field '{field}' = {value!r} {what}"
    return what


@pytest.mark.parametrize(("board", "field", "value", "message"), BAD)
def test_bad_field_is_one_line_naming_file_board_and_field(tmp_path, board, field, value, message):
    path = tmp_path / "boards.yaml"
    path.write_text(yaml.safe_dump(_with(board, field, value)))
    with pytest.raises(BoardsError) as err:
        read_boards(path)
    assert str(err.value) == f"{path}: {expected(board, field, value, message)}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("esp32: {baud: 1}\nesp32: {baud: 2}\n", "duplicate key 'esp32' at line 2"),
        ("- esp32\n", "must map board names to their facts"),
        ("", "must map board names to their facts"),
        ("esp32: [unclosed\n", "not valid YAML at line 2"),
        ("ESP 32: {}\n", "board name 'ESP 32' must match [a-z0-9_]+"),
        ("esp32: 3\n", "board 'esp32' must be a mapping"),
    ],
)
def test_bad_document_is_one_line(tmp_path, text, message):
    path = tmp_path / "boards.yaml"
    path.write_text(text)
    with pytest.raises(BoardsError) as err:
        read_boards(path)
    assert str(err.value) == f"{path}: {message}"


def test_budget_gate_uses_the_same_checks(tmp_path):
    """The pipeline needs only the budgets, but a field that is there is still checked."""
    path = tmp_path / "boards.yaml"
    budgets = {f: GOOD["esp32"][f] for f in budget.BUDGET_FIELDS}
    path.write_text(yaml.safe_dump({"esp32": budgets}))
    assert budget.load_boards(path) == {"esp32": budgets}
    path.write_text(yaml.safe_dump({"esp32": {**budgets, "baud": "fast"}}))
    with pytest.raises(budget.BudgetError, match=r"field 'baud' = 'fast' must be an integer"):
        budget.load_boards(path)


@pytest.mark.parametrize(
    ("board", "field", "value", "message"),
    [BAD[0], BAD[5], BAD[11], BAD[-1]],
    ids=["baud", "flash_tool", "nan", "unknown"],
)
def test_flash_cli_exit_1_one_line_no_traceback(tmp_path, board, field, value, message):
    path = tmp_path / "boards.yaml"
    path.write_text(yaml.safe_dump(_with(board, field, value)))
    image = tmp_path / "fw.bin"
    image.write_bytes(b"\xe9")
    p = subprocess.run(
        [sys.executable, "-m", "hil.flash", "--board", board, "--port", "/dev/ttyFAKE",
         "--image", str(image), "--boards-file", str(path)],
        capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
        env={**os.environ, "KWS_HIL_LOCK_DIR": str(tmp_path / "locks")},
    )  # fmt: skip
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [
        f"error: {path}: {expected(board, field, value, message)}"
    ]
    assert not (tmp_path / "locks").exists()  # failed before touching the port


def test_emulated_instructions_are_microseconds_times_clock_mhz():
    # -icount: one instruction per clock period, so the Nano 33 BLE's 64 MHz turns 1 us
    # into 64 instructions; rounded, as the search's column and the HIL report print it
    assert emulated_instructions(123_530, 64_000_000) == 7_905_920
    assert emulated_instructions(1, 240_000_000) == 240
    assert emulated_instructions(0.01, 64_000_000) == 1
    assert emulated_instructions(0, 64_000_000) == 0
