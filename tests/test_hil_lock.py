"""The per-port lock: a second job waits, then gives up naming the holder; a holder that
dies frees the port; every spelling of a port is one lock; a child of the holder works
under its parent's lock (make hil: flash, then the suites) and nobody else does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from hil.lock import HOLDER_ENV, PortBusy, PortLock, is_busy, normalize_port

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


def hold(port: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, port], stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def holder():
    proc = hold("/dev/ttyFAKE0")
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
    assert is_busy("/dev/ttyFAKE0")
    holder.kill()
    holder.wait()
    assert not is_busy("/dev/ttyFAKE0")
    with PortLock("/dev/ttyFAKE0", "me", timeout_s=2.0):
        assert is_busy("/dev/ttyFAKE0")  # a probe from another file handle is refused


def test_released_on_exception_and_reusable():
    lock = PortLock("/dev/ttyFAKE1", "a", timeout_s=0)
    with pytest.raises(RuntimeError), lock:
        raise RuntimeError("test body failed")
    assert not lock.locked
    assert not lock.info.exists()
    assert not is_busy("/dev/ttyFAKE1")
    with PortLock("/dev/ttyFAKE1", "b", timeout_s=0):
        assert is_busy("/dev/ttyFAKE1")


def test_holder_names_the_current_test():
    with PortLock("/dev/ttyFAKE2", "first", timeout_s=0) as lock:
        lock.set_test("hil/test_smoke.py::test_identity")
        assert "hil/test_smoke.py::test_identity" in PortLock("/dev/ttyFAKE2").holder()


def test_port_spellings_are_one_lock(tmp_path):
    link = tmp_path / "usb-Silicon_Labs_CP2102-if00-port0"  # as in /dev/serial/by-id/
    link.symlink_to("/dev/ttyFAKE3")
    assert normalize_port("ttyFAKE3") == normalize_port(str(link)) == "/dev/ttyFAKE3"
    assert normalize_port("socket://localhost:4000") == "socket://localhost:4000"
    proc = hold("ttyFAKE3")
    try:
        for spelling in ("/dev/ttyFAKE3", str(link), "/dev/../dev/ttyFAKE3"):
            assert is_busy(spelling), spelling
            with pytest.raises(PortBusy, match=rf"^{spelling}: still held by pid {proc.pid} "):
                PortLock(spelling, "me", timeout_s=0).acquire()
        assert not is_busy("/dev/ttyFAKE4")
    finally:
        proc.kill()
        proc.wait()


CHILD = """
import sys
from hil.lock import PortBusy, PortLock
try:
    with PortLock(sys.argv[1], "hil/test_smoke.py::test_identity", timeout_s=0) as lock:
        print("inherited" if lock.inherited else "own", lock.holder(), flush=True)
except PortBusy as exc:
    print("busy", exc, flush=True)
"""


def child(port: str, env: dict[str, str]) -> str:
    p = subprocess.run(
        [sys.executable, "-c", CHILD, port],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    return p.stdout.strip()


def test_child_works_under_its_parents_lock_and_no_one_else_does():
    host = socket.gethostname()
    with PortLock("/dev/ttyFAKE5", "make hil esp32", timeout_s=0) as lock:
        out = child("ttyFAKE5", lock.child_env())  # another spelling of the same port
        assert out == (
            f"inherited pid {os.getpid()} on {host} (test hil/test_smoke.py::test_identity)"
        )
        assert is_busy("/dev/ttyFAKE5")  # the child's exit did not free the parent's port
        assert lock.holder().startswith(f"pid {os.getpid()} ")
        # a process not started by the holder waits like any other job
        stranger = {k: v for k, v in os.environ.items() if k != HOLDER_ENV}
        assert child("/dev/ttyFAKE5", stranger).startswith("busy /dev/ttyFAKE5: still held by")
        # a wrong holder pid in the environment does not let it in either
        liar = {**stranger, HOLDER_ENV: str(os.getpid() + 1)}
        assert child("/dev/ttyFAKE5", liar).startswith("busy ")
    # a child whose parent does not hold the port takes it itself
    assert child("/dev/ttyFAKE5", {**os.environ, HOLDER_ENV: str(os.getpid())}).startswith("own ")


def test_child_env_needs_the_lock():
    with pytest.raises(PortBusy, match=r"^/dev/ttyFAKE6: not held by this process"):
        PortLock("/dev/ttyFAKE6").child_env()
