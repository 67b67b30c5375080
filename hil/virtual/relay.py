"""The fault relay: a pty for the client, bytes relayed to and from the firmware's own pty,
and the six faults (hil/virtual/faults.py) applied on the way, so the client's fault
handling is exercised against the real firmware.

Commands are counted from the client's bytes (a line ended by `\\n`, `\\r` or `%`; the payload
a binary command announces is skipped), as the fault schedule counts them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import signal

from hil.virtual.board import HostBoard
from hil.virtual.faults import Faults, FaultyPort
from hil.virtual.qemu import QemuBoard
from hil.virtual.transport import PortClosed, PtyPort

log = logging.getLogger(__name__)
PAYLOAD_CMD = re.compile(rb"^\s*(infer|audio|features)\s+(\d{1,9})\s+\S+\s*$")


class CommandCounter:
    """Feeds the client's bytes; calls `on_line` once per command line."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.line = bytearray()
        self.skip = 0
        self.last_cr = False

    def feed(self, data: bytes) -> str | None:
        """Returns the fault of the first command line that ended in `data`, if any."""
        fired: str | None = None
        for b in data:
            if self.skip:
                self.skip -= 1
                continue
            if b == 0x0A and self.last_cr:  # the rest of "\r\n"
                self.last_cr = False
                continue
            self.last_cr = b == 0x0D
            if b in (0x0A, 0x0D, 0x25):
                line, self.line = bytes(self.line), bytearray()
                if line.strip():
                    fault = self.faults.on_command()
                    fired = fired or fault
                    m = PAYLOAD_CMD.match(line) if b != 0x25 else None
                    if m:
                        self.skip = int(m.group(2))
                continue
            if len(self.line) < 4096:
                self.line.append(b)
        return fired


def _open_raw(path: str) -> int:
    # The firmware set its pty raw; setting it again here would flush (TCSAFLUSH) the boot
    # banner it already wrote.
    return os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)


def _write_all(fd: int, data: bytes, stall_s: float = 5.0) -> None:
    view = memoryview(data)
    while view:
        if not select.select([], [fd], [], stall_s)[1]:
            log.warning("firmware is not reading; dropped %d bytes", len(view))
            return
        with contextlib.suppress(BlockingIOError):
            view = view[os.write(fd, view) :]


def serve(board: HostBoard | QemuBoard, faults: Faults) -> None:
    """Relays until stopped; prints `PORT <client pty>` once the firmware has booted."""
    client = PtyPort()
    port = FaultyPort(client, faults)
    counter = CommandCounter(faults)
    fw = _open_raw(board.port)
    discarding = False  # the rest of a payload sent to the board that reset
    # A reset is a power cycle onto a second instance booted in advance, so the banner comes
    # as fast as a board's would.
    spare = board.spawn() if faults.kind == "reset" else None
    print(f"PORT {client.path}", flush=True)
    try:
        while not client.closed:
            ready, _, _ = select.select([client.master, fw], [], [], 0.2)
            if client.master in ready:
                try:
                    data = port.read(0)
                except PortClosed:
                    break
                fault = counter.feed(data) if data else None
                if discarding:
                    discarding = counter.skip > 0
                    continue
                if fault == "disconnect":
                    log.warning("fault disconnect: unplugging %s", client.path)
                    client.unplug()
                    break
                if fault == "reset":  # a power cycle: the firmware boots again, banner and all
                    log.warning("fault reset: restarting the firmware")
                    os.close(fw)
                    fw = _open_raw(board.adopt(*spare) if spare else board.start())
                    spare = None
                    discarding = counter.skip > 0
                    continue
                _write_all(fw, data)
            if fw in ready:
                try:
                    out = os.read(fw, 65536)
                except BlockingIOError:
                    continue
                except OSError:  # the firmware went away
                    break
                if out:
                    port.write(out)
        if client.unplugged:
            # stay "unplugged" (our slave fd keeps the pts number from being reused by another
            # board) until we are stopped, as a board lying on the bench would
            while True:
                signal.pause()
    finally:
        with contextlib.suppress(OSError):
            os.close(fw)
        if spare is not None:
            spare[0].kill()
            spare[0].wait()
        client.close()
