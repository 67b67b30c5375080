"""One job per board: a per-port file lock (filelock) with the holder's pid, host and test
id beside it, so a second job waits, then gives up with a message naming the holder.

The OS releases the lock when its holder dies, so a crashed job never blocks the next one.
Port names are normalized first: `ttyUSB0`, `/dev/ttyUSB0` and a symlink to it
(`/dev/serial/by-id/...`) are one port, so one lock. A job that holds a port for its child
processes (`make hil`: flash, then the suites) passes `child_env()` to them; a child's
PortLock on that port then finds it held by that parent and works under the parent's lock
instead of waiting for it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import tempfile
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from ml.errors import KwsError

log = logging.getLogger(__name__)

LOCK_DIR_ENV = "KWS_HIL_LOCK_DIR"
HOLDER_ENV = "KWS_HIL_LOCK_HOLDER"  # pid of a process that holds ports for its children


class PortBusy(KwsError):
    """Another job holds the board's port."""


def lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "kws-hil-locks")


def normalize_port(port: str) -> str:
    """The device a port name means: a bare `ttyUSB0` is `/dev/ttyUSB0`; symlinks are
    followed. pyserial URLs (`socket://...`, `rfc2217://...`) are kept as they are."""
    if "://" in port:
        return port
    path = Path(port) if "/" in port else Path("/dev") / port
    return str(path.resolve())


def _stem(port: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", normalize_port(port))


def is_busy(port: str) -> bool:
    """Whether some process holds `port` now (probed with a lock attempt that does not wait)."""
    probe = FileLock(lock_dir() / f"{_stem(port)}.lock", thread_local=False)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    probe.release()
    return False


class PortLock:
    """`with PortLock(port, test_id, timeout_s): ...` holds `port` for this process."""

    def __init__(self, port: str, test_id: str = "-", timeout_s: float = 60.0) -> None:
        self.port, self.test_id, self.timeout_s = port, test_id, timeout_s
        self.device = normalize_port(port)
        self.inherited = False  # held by the parent job (HOLDER_ENV), not by this process
        self._owner = os.getpid()
        d = lock_dir()
        d.mkdir(parents=True, exist_ok=True)
        self.path = d / f"{_stem(port)}.lock"
        self.info = d / f"{_stem(port)}.holder.json"
        self._lock = FileLock(self.path, thread_local=False)

    def _holder_pid(self) -> int | None:
        try:
            return int(json.loads(self.info.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def holder(self) -> str:
        try:
            h = json.loads(self.info.read_text())
            return f"pid {h['pid']} on {h['host']} (test {h['test']})"
        except (OSError, ValueError, KeyError, TypeError):
            return "an unknown holder"

    def child_env(self) -> dict[str, str]:
        """The environment for a child process that works on this port under this lock."""
        if not self.locked:
            raise PortBusy(f"{self.port}: not held by this process; cannot pass it on")
        return {**os.environ, HOLDER_ENV: str(self._owner)}

    def _held_by_parent(self) -> bool:
        parent = os.environ.get(HOLDER_ENV, "")
        return parent.isdigit() and self._holder_pid() == int(parent)

    def acquire(self) -> PortLock:
        if self.locked:
            return self
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            if self._held_by_parent():
                self.inherited, self._owner = True, int(os.environ[HOLDER_ENV])
                log.info("%s is held for this job by pid %d", self.port, self._owner)
                self.set_test(self.test_id)
                return self
            log.info(
                "%s is busy (held by %s); waiting up to %.0f s",
                self.port,
                self.holder(),
                self.timeout_s,
            )
            try:
                self._lock.acquire(timeout=self.timeout_s)
            except Timeout:
                raise PortBusy(
                    f"{self.port}: still held by {self.holder()} after {self.timeout_s:g} s"
                ) from None
        self.set_test(self.test_id)
        return self

    def set_test(self, test_id: str) -> None:
        """Name the test now using the port (what a waiting job reports)."""
        self.test_id = test_id
        tmp = self.info.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps(
                {
                    "pid": self._owner,
                    "host": socket.gethostname(),
                    "test": test_id,
                    "port": self.device,
                }
            )
        )
        tmp.replace(self.info)

    def release(self) -> None:
        if self.inherited:  # the parent job keeps the port
            self.inherited, self._owner = False, os.getpid()
            return
        if self._lock.is_locked:
            try:
                self.info.unlink(missing_ok=True)
            finally:
                self._lock.release(force=True)

    @property
    def locked(self) -> bool:
        return self.inherited or self._lock.is_locked

    def __enter__(self) -> PortLock:
        return self.acquire()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
