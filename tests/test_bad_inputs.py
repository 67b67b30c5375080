"""Bad models, boards files, command lines and outputs, table-driven (the harness:
tests/bad_inputs.py; the params.yaml and data cases: tests/test_bad_inputs_params.py and
tests/test_bad_inputs_data.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.bad_inputs import (
    REPO,
    Case,
    P,
    Ws,
    check_table,
    evaluate_cmd,
    export_cmd,
    plain,
    register_cmd,
    run_case,
    validate_cmd,
)

# ------------------------------------------------------------------ mutations


def model_file(kind: str) -> Callable[[Ws], None]:
    def apply(ws: Ws) -> None:
        ws.write_params()
        blob = bytearray((ws.tiny / "build/model/model_int8.tflite").read_bytes())
        if kind == "truncated":
            blob = blob[: len(blob) // 2]
        elif kind == "corrupt":  # header intact, body scrambled
            for i in range(64, len(blob), 7):
                blob[i] ^= 0xA5
        elif kind == "not-tflite":
            blob[4:8] = b"XXXX"
        elif kind == "empty":
            blob = bytearray()
        (ws.root / "model.tflite").write_bytes(bytes(blob))

    return apply


def boards_file(text: str) -> Callable[[Ws], None]:
    def apply(ws: Ws) -> None:
        ws.write_params()
        (ws.root / "boards.yaml").write_text(text)

    return apply


def boards_without(field_name: str) -> Callable[[Ws], None]:
    def apply(ws: Ws) -> None:
        boards = yaml.safe_load((REPO / "hil/boards.yaml").read_text())
        del boards["esp32"][field_name]
        boards_file(yaml.safe_dump(boards))(ws)

    return apply


def old_report(ws: Ws) -> None:
    """A previous data.json that a failed write must leave as it was."""
    ws.write_params()
    (ws.root / "out").mkdir()
    (ws.root / "out/data.json").write_text('{"previous": true}\n')


DISK_FULL = (
    "import errno, os\n"
    "def _full(*a, **k): raise OSError(errno.ENOSPC, 'No space left on device')\n"
    "os.replace = _full\n"
)


CASES: list[Case] = [
    # ---- models: a valid TFL3 header is not enough (flatbuffer verifier)
    Case("evaluate-truncated-model", model_file("truncated"),
         lambda ws: evaluate_cmd(ws, **{"--int8": "model.tflite"}),
         "model.tflite: not a valid TFLite model (the flatbuffer verifier rejects it"),
    Case("evaluate-corrupt-model", model_file("corrupt"),
         lambda ws: evaluate_cmd(ws, **{"--int8": "model.tflite"}),
         "model.tflite: not a valid TFLite model (the flatbuffer verifier rejects it"),
    Case("evaluate-not-tflite", model_file("not-tflite"),
         lambda ws: evaluate_cmd(ws, **{"--int8": "model.tflite"}),
         "model.tflite: not a TFLite flatbuffer (no TFL3 identifier)"),
    Case("export-truncated-model", model_file("truncated"),
         lambda ws: export_cmd(ws, **{"--int8": "model.tflite"}),
         "model.tflite: not a valid TFLite model (the flatbuffer verifier rejects it"),
    Case("export-missing-model", plain,
         lambda ws: export_cmd(ws, **{"--int8": "none.tflite"}),
         "none.tflite: model file not found"),
    Case("register-corrupt-model", model_file("corrupt"),
         lambda ws: register_cmd(ws, **{"--int8": "model.tflite"}),
         "model.tflite: not a valid TFLite model (the flatbuffer verifier rejects it"),
    Case("register-empty-model", model_file("empty"),
         lambda ws: register_cmd(ws, **{"--int8": "model.tflite"}),
         "model.tflite: not a TFLite flatbuffer (no TFL3 identifier)"),
    # ---- boards through ml.evaluate (ml/budget.py reads boards.yaml with hil/boards.py's
    # checks; every field's cases, and hil.flash's command line: tests/test_hil_boards.py)
    Case("boards-list", boards_file("- esp32\n- nano33ble\n"),
         lambda ws: evaluate_cmd(ws, **{"--boards": "boards.yaml"}),
         "boards.yaml: must map board names to their facts"),
    Case("boards-bad-yaml", boards_file("esp32: [\n"),
         lambda ws: evaluate_cmd(ws, **{"--boards": "boards.yaml"}),
         "boards.yaml: not valid YAML at line"),
    Case("boards-missing-field", boards_without("model_budget_bytes"),
         lambda ws: evaluate_cmd(ws, **{"--boards": "boards.yaml"}),
         "boards.yaml: board 'esp32' is missing 'model_budget_bytes'"),
    # ---- command line
    Case("evaluate-missing-flags", plain,
         lambda ws: ["-m", "ml.evaluate", "--int8", "x.tflite", "--params", P],
         "python -m ml.evaluate: missing --float, --features, --data, --boards, --ops, --metrics"),
    Case("register-missing-flags", plain, lambda ws: ["-m", "ml.register", "--params", P],
         "python -m ml.register: missing --int8, --firmware, --metrics, --data-report, --plots"),
    Case("metrics-show-missing", plain,
         lambda ws: ["-m", "ml.evaluate", "--show", "none.json"],
         "none.json: no metrics yet (run `make repro`)"),
    # ---- outputs: unwritable directory, full disk; the previous report stays
    Case("report-unwritable-dir", plain,
         lambda ws: ["-m", "ml.validate", "--data", str(ws.tiny / "data/speech_commands"),
                     "--report", "/sys/kws-test/data.json", "--params", P],
         "/sys/kws-test/data.json: cannot write ("),
    Case("report-disk-full", old_report, validate_cmd,
         "out/data.json: cannot write (no space left on the device); previous outputs left",
         prelude=DISK_FULL),
]  # fmt: skip


def test_the_table_is_big_enough() -> None:
    check_table(CASES, 15)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tiny_pipeline: Path, tmp_path: Path) -> None:
    run_case(case, tiny_pipeline, tmp_path)
