"""The virtual board's serial port: a pseudo-terminal whose slave side a host opens like a
USB serial device (pyserial, pytest-embedded's serial service)."""

from __future__ import annotations

import contextlib
import logging
import os
import pty
import select
import time
import tty

log = logging.getLogger(__name__)

WRITE_STALL_S = 5.0  # a host that reads nothing for this long is gone: drop the output


class PortClosed(Exception):
    """The port was closed (by a disconnect fault or shutdown)."""


class PtyPort:
    """Byte transport over a pty master. The slave stays open here too, so the port
    survives a host closing and reopening it, as a USB serial device does."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)  # no echo, no line discipline: bytes pass untouched
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.closed = False
        self.unplugged = False

    def read(self, timeout: float | None) -> bytes:
        """Bytes available within `timeout` seconds (b"" when none); PortClosed when closed."""
        if self.closed:
            raise PortClosed(self.path)
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self.master, 65536)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise PortClosed(self.path) from exc

    def write(self, data: bytes) -> None:
        if self.closed:
            raise PortClosed(self.path)
        view = memoryview(data)
        deadline = time.monotonic() + WRITE_STALL_S
        while view:
            _, ready, _ = select.select([], [self.master], [], 0.1)
            if ready:
                try:
                    view = view[os.write(self.master, view) :]
                except BlockingIOError:
                    pass
                deadline = time.monotonic() + WRITE_STALL_S
            elif time.monotonic() > deadline:
                log.warning("%s: host is not reading; dropped %d bytes", self.path, len(view))
                return

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for fd in (self.master, self.slave):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def unplug(self) -> None:
        """Vanish like an unplugged USB device: close the master, so a host's reads fail and
        reopening the path fails, but keep our slave fd until exit so the kernel cannot hand
        the same /dev/pts number to another board meanwhile (a reconnect must not reach it)."""
        if not self.closed:
            self.closed = True
            self.unplugged = True
            with contextlib.suppress(OSError):
                os.close(self.master)
