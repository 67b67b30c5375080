"""ml/budget.py: boards.yaml loading, the op list, the arena margin and the gate's lines."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ml import budget
from ml.budget import BudgetError, ModelFacts

REPO = Path(__file__).resolve().parents[1]
BOARD = {
    "clock_hz": 100_000_000,
    "macs_per_cycle": 0.5,
    "flash_budget_bytes": 1_000_000,
    "model_budget_bytes": 50_000,
    "ram_budget_bytes": 80_000,
    "arena_budget_bytes": 40_000,
}
OPS = ["CONV_2D", "DEPTHWISE_CONV_2D", "RESHAPE", "SOFTMAX"]


def facts(**kw: object) -> ModelFacts:
    base = {
        "model_bytes": 40_000,
        "tensor_arena_size": 30_000,
        "ram_extra_bytes": 33_960,
        "macs": 2_000_000,
        "ops": ["CONV_2D", "SOFTMAX"],
    }
    return ModelFacts(**{**base, **kw})


def write_boards(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "boards.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_repo_boards_and_ops_load() -> None:
    boards = budget.load_boards(REPO / "hil/boards.yaml")
    assert {"esp32", "nano33ble"} <= set(boards)
    ops = budget.supported_ops(REPO / "firmware/core/supported_ops.def")
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "SOFTMAX", "RESHAPE"} <= set(ops)
    assert "KWS_OP" not in ops


def test_supported_ops_parses_only_kws_op_lines(tmp_path: Path) -> None:
    path = tmp_path / "ops.def"
    path.write_text("// KWS_OP(NAME, Method) in a comment\nKWS_OP(CONV_2D, AddConv2D)\n")
    assert budget.supported_ops(path) == ["CONV_2D"]
    path.write_text("// nothing\n")
    with pytest.raises(BudgetError) as exc:
        budget.supported_ops(path)
    assert str(exc.value) == f"{path}: no KWS_OP(...) lines"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"b1": {**BOARD, "clock_hz": None}},
            "board 'b1' field 'clock_hz' = None must be a positive integer",
        ),
        (
            {"b1": {**BOARD, "macs_per_cycle": -1}},
            "board 'b1' field 'macs_per_cycle' = -1 must be a positive number",
        ),
        (
            {"b1": {k: v for k, v in BOARD.items() if k != "arena_budget_bytes"}},
            "board 'b1' is missing 'arena_budget_bytes'",
        ),
        ({"b1": [1, 2]}, "board 'b1' must be a mapping"),
        ([1, 2], "must map board names to their facts"),
    ],
)
def test_malformed_boards_file(tmp_path: Path, data: object, message: str) -> None:
    path = write_boards(tmp_path, data)
    with pytest.raises(BudgetError) as exc:
        budget.load_boards(path)
    assert str(exc.value) == f"{path}: {message}"


def test_unreadable_boards_file(tmp_path: Path) -> None:
    with pytest.raises(BudgetError) as exc:
        budget.load_boards(tmp_path / "nope.yaml")
    assert str(exc.value) == f"{tmp_path / 'nope.yaml'}: cannot read (No such file or directory)"
    bad = tmp_path / "bad.yaml"
    bad.write_text("b1: [unclosed\n")
    with pytest.raises(BudgetError, match=r"bad.yaml: not valid YAML at line \d+$"):
        budget.load_boards(bad)


def test_tensor_arena_size() -> None:
    assert budget.tensor_arena_size(10_000, 10, 1024) == 12_032  # 12024 rounded up to 16
    assert budget.tensor_arena_size(16, 0, 0) == 16
    assert budget.tensor_arena_size(17, 0, 0) == 32
    assert budget.tensor_arena_size(1000, 10, 0) % 16 == 0


def test_latency_lower_bound() -> None:
    # 2e6 MACs / (0.5 MAC/cycle * 100 MHz) = 40 ms
    assert budget.est_latency_ms(2_000_000, BOARD) == pytest.approx(40.0)


def test_fits() -> None:
    result, failures = budget.evaluate_boards({"b1": BOARD}, facts(), OPS)
    assert failures == []
    assert result == {"b1": {"est_latency_ms": 40.0, "fits": True, "ram_bytes": 63_960}}


@pytest.mark.parametrize(
    ("kw", "line"),
    [
        ({"model_bytes": 50_001}, "board b1: model 50001 bytes exceeds model_budget_bytes 50000"),
        (
            {"tensor_arena_size": 40_016},
            "board b1: tensor arena 40016 bytes exceeds arena_budget_bytes 40000",
        ),
        (
            {"ram_extra_bytes": 50_001},
            "board b1: RAM 80001 bytes (arena 30000 + buffers 50001) exceeds "
            "ram_budget_bytes 80000",
        ),
        (
            {"ops": ["CONV_2D", "TANH", "LSTM"]},
            "board b1: model uses op TANH, LSTM not registered in supported_ops.def",
        ),
    ],
)
def test_gate_lines(kw: dict, line: str) -> None:
    result, failures = budget.evaluate_boards({"b1": BOARD}, facts(**kw), OPS)
    assert failures == [line]
    assert result["b1"]["fits"] is False


def test_budget_at_the_limit_fits() -> None:
    m = facts(model_bytes=50_000, tensor_arena_size=40_000, ram_extra_bytes=40_000)
    assert budget.check_board("b1", BOARD, m, OPS) == []
