"""The six injected faults against the emulated Cortex-M4 board: the fault relay
(hil/virtual/relay.py) sits between the client and the UART pty of the `kws_m4_board` image
under QEMU, so the client's fault handling meets the CMSIS-NN firmware too. Every fault
applies: the relay only touches the bytes on the pty (hang, garbage, drop, slow), unplugs the
client's pty (disconnect), or power-cycles onto a second QEMU booted in advance (reset).

Run by `make hil-qemu` after the suites (`pytest tests/qemu_faults.py`), which builds the
image first; not named test_*.py, so `make pytest` (which may run before any M4 build) does
not collect it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from hil.client import BoardReset, Client
from hil.run_virtual import VirtualBoard
from hil.virtual.qemu import M4_BOARD, QEMU, image_facts
from tests.fault_cases import TIMEOUT_S, assert_fault_named, fault_cases

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(QEMU) is None, reason=f"needs {QEMU} (make apt)"),
]
BOARD = "nano33ble"  # the board the image is budgeted as (hil.run_virtual --kind qemu)
FAULTS = fault_cases(BOARD)


@pytest.fixture(scope="module")
def model() -> tuple[Path, np.ndarray]:
    """The settings of the model the image carries and one golden feature vector."""
    if not M4_BOARD.is_file():
        pytest.fail(f"{M4_BOARD}: missing: run `make m4-board` (make hil-qemu does)")
    facts = image_facts(M4_BOARD)
    assert facts["board"] == BOARD, facts
    settings = Path(facts["model_settings"])
    with np.load(settings.parents[2] / "hil/vectors/features.npz") as z:
        return settings, z["x"][0]


@pytest.fixture(autouse=True)
def _lock_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KWS_HIL_LOCK_DIR", str(tmp_path / "locks"))


def _board(settings: Path, fault: str, after: int) -> VirtualBoard:
    return VirtualBoard(
        BOARD, settings, ["--fault", fault, "--fault-after", str(after)], kind="qemu"
    )


@pytest.mark.parametrize(("fault", "error", "message"), FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_is_named_and_lock_released_on_qemu(model, fault, error, message):
    settings, x = model
    with _board(settings, fault, 1) as vb:
        assert_fault_named(vb.port, BOARD, x, (fault, error, message))


def test_reset_fault_fires_once_then_qemu_board_serves_again(model):
    settings, x = model
    with _board(settings, "reset", 0) as vb:
        client = Client(vb.port, timeout_s=TIMEOUT_S, name=BOARD)
        with pytest.raises(BoardReset):
            client.identity()
        assert client.identity()["board"] == BOARD
        assert int(client.stats()["inferences"]) == 0  # counters restarted at the reboot
        client.infer(x)  # the rebooted image infers
        assert int(client.stats()["inferences"]) == 1
