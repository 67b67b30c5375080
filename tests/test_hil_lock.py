"""The per-port lock: a second job waits, then gives up naming the holder; a holder that
dies frees the port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from hil.lock import PortBusy, PortLock

HOLDER = """
import sys, time
from hil.lock import PortLock
with PortLock(sys.argv[1], "tests/holder.py::test_long", timeout_s=5):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture(autouse=True)
def _lock_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KWS_HIL_LOCK_DIR", str(tmp_path))


@pytest.fixture
def holder():
    env = {**os.environ}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, "/dev/ttyFAKE0"], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_second_job_waits_then_names_the_holder(holder):
    t = time.monotonic()
    with pytest.raises(PortBusy) as err, PortLock("/dev/ttyFAKE0", "me", timeout_s=1.0):
        pass
    assert time.monotonic() - t >= 1.0
    assert str(err.value) == (
        f"/dev/ttyFAKE0: still held by pid {holder.pid} on {socket.gethostname()} "
        "(test tests/holder.py::test_long) after 1 s"
    )


def test_holder_death_frees_the_port(holder):
    holder.kill()
    holder.wait()
    with PortLock("/dev/ttyFAKE0", "me", timeout_s=2.0) as lock:
        assert lock.locked


def test_released_on_exception_and_reusable():
    lock = PortLock("/dev/ttyFAKE1", "a", timeout_s=0)
    with pytest.raises(RuntimeError), lock:
        raise RuntimeError("test body failed")
    assert not lock.locked
    assert not lock.info.exists()
    with PortLock("/dev/ttyFAKE1", "b", timeout_s=0) as again:
        assert again.locked


def test_holder_names_the_current_test():
    with PortLock("/dev/ttyFAKE2", "first", timeout_s=0) as lock:
        lock.set_test("hil/test_smoke.py::test_identity")
        assert "hil/test_smoke.py::test_identity" in PortLock("/dev/ttyFAKE2").holder()
