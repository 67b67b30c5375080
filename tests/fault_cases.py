"""The six injected faults and the named failure each must end in, for any board: shared by
the host-board fault tests (tests/test_hil_faults.py) and the emulated Cortex-M4 ones
(tests/qemu_faults.py, run by `make hil-qemu`)."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from hil.client import (
    BoardDisconnected,
    BoardHang,
    BoardReset,
    Client,
    GarbledLine,
    PayloadLost,
    SlowLink,
)
from hil.lock import PortLock, is_busy

TIMEOUT_S = 1.0


def fault_cases(board: str) -> list[tuple[str, type[Exception], str]]:
    """(fault, the client's error, the regex its message matches) with TIMEOUT_S = 1.0 s and
    the tiny model's 1,960-byte feature payload (`drop` loses every 97th byte: 20 of them)."""
    b = re.escape(board)
    return [
        ("hang", BoardHang, rf"^{b}: no answer to 'infer' within 1\.0 s: board hung$"),
        ("slow", SlowLink, rf"^{b}: answer to 'infer' incomplete after 1\.0 s \(\d+ bytes\): link"),
        ("disconnect", BoardDisconnected, rf"^{b}: port /dev/pts/\d+ lost during 'infer' and did "),
        ("reset", BoardReset, rf"^{b}: board reset during 'infer' \(m-boot board={b} fw=\S+ "),
        ("garbage", GarbledLine, rf"^{b}: garbled line in the answer to 'infer': b'\\x"),
        ("drop", PayloadLost, r"^'infer': board received 1940 of 1960 payload bytes \(bytes dropp"),
    ]


def assert_fault_named(
    port: str, board: str, x: np.ndarray, case: tuple[str, type[Exception], str]
) -> None:
    """With `case` (a fault_cases() row) injected: command 1 is served, command 2 meets the
    fault, a named error within 10 timeouts, and the port lock is released at once."""
    fault, error, message = case
    lock = PortLock(port, f"test_{fault}", timeout_s=1)
    t = time.monotonic()
    with pytest.raises(error, match=message), lock:
        client = Client(port, timeout_s=TIMEOUT_S, name=board)
        assert client.sync()["board"] == board  # command 1 is served normally
        client.infer(x)  # command 2 meets the fault
    assert time.monotonic() - t < 10 * TIMEOUT_S  # named failure, not a hang
    assert not lock.locked
    assert not is_busy(port)  # the next job gets the port at once
