"""Fault injection for the virtual board: what a flaky board or cable does to a host.

A `Faults` object counts the commands the board has served; from command `after + 1` on the
fault is active. `reset` fires once (a board resets, then runs again); the others persist.
"""

from __future__ import annotations

import logging
import random
import time

from hil.virtual.transport import PortClosed, PtyPort

log = logging.getLogger(__name__)

KINDS = ("disconnect", "reset", "hang", "garbage", "drop", "slow")
DROP_EVERY = 97  # with `drop`, every 97th input byte is lost
SLOW_BYTES_PER_S = 20.0  # with `slow`, the answer trickles out at this rate


class Faults:
    def __init__(self, kind: str | None = None, after: int = 0, seed: int = 0) -> None:
        if kind is not None and kind not in KINDS:
            raise ValueError(kind)
        self.kind, self.after = kind, after
        self.commands = 0
        self.fired = False
        self._rng = random.Random(seed)

    def on_command(self) -> str | None:
        """Called once per command line; returns the fault to apply to this command."""
        self.commands += 1
        if self.kind is None or self.commands <= self.after:
            return None
        if self.kind == "reset" and self.fired:
            return None  # a board resets once, then runs again
        if not self.fired:
            log.warning("fault %s from command %d on", self.kind, self.commands)
        self.fired = True
        return self.kind

    def active(self, kind: str) -> bool:
        """Output faults: from the answer to command `after + 1` on."""
        return self.kind == kind and self.commands > self.after

    def armed(self, kind: str) -> bool:
        """Input faults: from the bytes of command `after + 1` on (they arrive before it)."""
        return self.kind == kind and self.commands >= self.after

    def garbage(self, n: int = 24) -> bytes:
        return bytes(self._rng.randrange(0x80, 0x100) for _ in range(n)) + b"\r\n"


class FaultyPort:
    """A PtyPort whose link misbehaves once its `Faults` says so (drop, slow, hang)."""

    def __init__(self, port: PtyPort, faults: Faults) -> None:
        self.port, self.faults = port, faults
        self.path = port.path
        self._seen = 0

    def read(self, timeout: float | None) -> bytes:
        data = self.port.read(timeout)
        if data and self.faults.armed("drop"):
            kept = bytearray()
            for b in data:
                self._seen += 1
                if self._seen % DROP_EVERY:
                    kept.append(b)
            data = bytes(kept)
        return data

    def write(self, data: bytes) -> None:
        if self.faults.active("garbage"):  # noise on the line: right length, wrong bytes
            data = self.faults.garbage(max(len(data) - 2, 1))
        if self.faults.active("hang"):
            return  # the board is stuck: nothing comes out
        if self.faults.active("slow"):
            for i in range(len(data)):
                if self.port.closed:
                    raise PortClosed(self.path)
                self.port.write(data[i : i + 1])
                time.sleep(1.0 / SLOW_BYTES_PER_S)
            return
        self.port.write(data)

    def close(self) -> None:
        self.port.close()

    def unplug(self) -> None:
        self.port.unplug()

    @property
    def closed(self) -> bool:
        return self.port.closed
