"""One job per board: a per-port file lock (filelock) with the holder's pid, host and test
id beside it, so a second job waits, then gives up with a message naming the holder.

The OS releases the lock when its holder dies, so a crashed job never blocks the next one.
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


class PortBusy(KwsError):
    """Another job holds the board's port."""


def lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "kws-hil-locks")


def _stem(port: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(Path(port).resolve()) if "/" in port else port)


class PortLock:
    """`with PortLock(port, test_id, timeout_s): ...` holds `port` for this process."""

    def __init__(self, port: str, test_id: str = "-", timeout_s: float = 60.0) -> None:
        self.port, self.test_id, self.timeout_s = port, test_id, timeout_s
        d = lock_dir()
        d.mkdir(parents=True, exist_ok=True)
        self.path = d / f"{_stem(port)}.lock"
        self.info = d / f"{_stem(port)}.holder.json"
        self._lock = FileLock(self.path, thread_local=False)

    def holder(self) -> str:
        try:
            h = json.loads(self.info.read_text())
            return f"pid {h['pid']} on {h['host']} (test {h['test']})"
        except (OSError, ValueError, KeyError):
            return "an unknown holder"

    def acquire(self) -> PortLock:
        if self._lock.is_locked:
            return self
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
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
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "test": test_id,
                    "port": self.port,
                }
            )
        )
        tmp.replace(self.info)

    def release(self) -> None:
        if self._lock.is_locked:
            try:
                self.info.unlink(missing_ok=True)
            finally:
                self._lock.release(force=True)

    @property
    def locked(self) -> bool:
        return self._lock.is_locked

    def __enter__(self) -> PortLock:
        return self.acquire()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
