"""The emulated Cortex-M4 board can fail the acceptance suite too: the test images with a
one-value error planted in the front-end output (kws_m4_board_plant_frontend) or in a model
output (kws_m4_board_plant_output) fail front-end parity and agreement, naming what differs.

Run by `make hil-qemu` after the suites (`pytest tests/qemu_planted.py`), which builds the
images first; not named test_*.py, so `make pytest` (which may run before any M4 build)
does not collect it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hil.virtual.qemu import M4_BOARD, QEMU, image_facts
from tests.planted import planted_suite

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(QEMU) is None, reason=f"needs {QEMU} (make apt)"),
]


@pytest.fixture(scope="module")
def pipeline() -> Path:
    """The pipeline dir of the model the images carry (<dir>/firmware/generated, hil/vectors,
    params.yaml: build/tiny, or the repository after `make repro`)."""
    for plant in ("frontend", "output"):
        image = M4_BOARD.with_name(f"{M4_BOARD.name}_plant_{plant}")
        if not image.is_file():
            pytest.fail(f"{image}: missing: run `make m4-board` (make hil-qemu does)")
    return Path(image_facts(M4_BOARD)["model_settings"]).parents[2]


def _suite(pipeline, tmp_path, plant: str, select: str) -> subprocess.CompletedProcess[str]:
    return planted_suite("nano33ble", "qemu", pipeline, tmp_path, plant=plant, select=select)


def test_planted_frontend_error_fails_parity_on_qemu(pipeline, tmp_path):
    run = _suite(pipeline, tmp_path, "frontend", "test_frontend_parity")
    assert run.returncode == 1, run.stdout[-2000:]
    assert "front-end differences off the known set: clip 0 (" in run.stdout, run.stdout[-2000:]
    assert "nano33ble: clip 0 frame 0 channel 0: firmware " in run.stdout, run.stdout[-2000:]


def test_planted_output_error_fails_agreement_on_qemu(pipeline, tmp_path):
    run = _suite(pipeline, tmp_path, "output", "test_golden_agreement")
    assert run.returncode == 1, run.stdout[-2000:]
    assert "agreement 0.0000 (top-1" in run.stdout, run.stdout[-2000:]
    assert "largest difference 1, differing vectors 0,1," in run.stdout, run.stdout[-2000:]
