"""Host side of firmware/PROTOCOL.md: framing, CRC, per-command timeouts, one reconnect on
a lost port, and one named failure per way a board or link goes wrong.

Works on any pyserial-like stream (`read(n)`, `write(b)`, `timeout`), e.g. pytest-embedded's
`dut.serial.proc` or a port it opens itself. It counts every byte both ways, so wire
efficiency (payload bytes / wire bytes) is measured, not computed from the spec.
"""

from __future__ import annotations

import logging
import termios
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import serial

from hil import wire
from ml.errors import KwsError

log = logging.getLogger(__name__)

READ_SLICE_S = 0.02  # pyserial read timeout while waiting for a line
# What a vanished port raises: pyserial's error, the OS's, termios' (tcdrain on a dead pty)
# and TypeError (pyserial reading a fd it already closed).
PORT_LOST = (serial.SerialException, OSError, termios.error, TypeError)


class BoardError(KwsError):
    """A board or its link misbehaved; subclasses name how."""


class BoardHang(BoardError):
    """Nothing came back within the command's timeout."""


class SlowLink(BoardError):
    """An answer started but did not complete within the timeout."""


class BoardDisconnected(BoardError):
    """The port vanished and one reconnect did not bring it back."""


class BoardReset(BoardError):
    """The board rebooted (boot banner) in the middle of a command."""


class GarbledLine(BoardError):
    """A line that is not protocol ASCII (noise, wrong baud)."""


class PayloadLost(BoardError):
    """The board got fewer payload bytes than sent (bytes dropped on the link)."""


class BoardRefused(BoardError):
    """The board answered an `e-` line where a result was expected."""


@dataclass
class Reply:
    command: str
    lines: list[str]

    @property
    def errors(self) -> list[str]:
        return [ln for ln in self.lines if ln.startswith("e-")]

    def line(self, prefix: str) -> str:
        for ln in self.lines:
            if ln.split(" ", 1)[0] == prefix:
                return ln
        if self.errors:
            raise _refusal(self.command, self.errors[0])
        raise GarbledLine(f"no {prefix} line in the answer to '{self.command}': {self.lines!r}")

    def fields(self, prefix: str) -> dict[str, str]:
        return wire.parse_fields(self.line(prefix), prefix)


def _refusal(command: str, err: str) -> BoardError:
    if err.startswith("e-timeout"):
        f = wire.parse_fields(err, "e-timeout")
        return PayloadLost(
            f"'{command}': board received {f.get('got')} of {f.get('want')} payload bytes "
            f"(bytes dropped on the link)"
        )
    return BoardRefused(f"'{command}': board answered {err}")


@dataclass
class WireStats:
    sent: int = 0
    received: int = 0
    payload: int = 0

    @property
    def efficiency(self) -> float:
        total = self.sent + self.received
        return self.payload / total if total else 0.0


class Client:
    """One board on one port. `stream` is an open pyserial object (None: open `port`)."""

    def __init__(
        self,
        port: str,
        timeout_s: float = 5.0,
        baud: int = 115200,
        stream: Any = None,
        name: str = "board",
    ) -> None:
        self.port, self.timeout_s, self.baud, self.name = port, timeout_s, baud, name
        self.stream = stream if stream is not None else self._open()
        self._rx = bytearray()
        self.wire = WireStats()
        self.reconnects = 0
        self._waited = timeout_s
        self.slowest_infer_s = 0.0  # wall time of the slowest `infer` exchange (bench timeout)

    # -- transport
    def _open(self) -> Any:
        try:
            stream = serial.serial_for_url(self.port, baudrate=self.baud, timeout=READ_SLICE_S)
            stream.reset_input_buffer()  # what the board said before we came is stale
            return stream
        except (serial.SerialException, OSError) as exc:
            raise BoardDisconnected(f"{self.name}: cannot open {self.port} ({exc})") from None

    def _reconnect(self, during: str) -> None:
        if self.reconnects >= 1:
            raise BoardDisconnected(f"{self.name}: port {self.port} lost again during '{during}'")
        self.reconnects += 1
        log.warning("%s: port %s lost during '%s'; reconnecting once", self.name, self.port, during)
        try:
            self.stream.close()
        except Exception:  # already dead; nothing to release
            pass
        time.sleep(0.5)  # a USB device re-enumerates in this time
        try:
            self.stream = serial.serial_for_url(self.port, baudrate=self.baud, timeout=READ_SLICE_S)
        except (serial.SerialException, OSError):
            raise BoardDisconnected(
                f"{self.name}: port {self.port} lost during '{during}' and did not come back"
            ) from None
        self._rx.clear()

    def close(self) -> None:
        try:
            self.stream.close()
        except Exception:  # closing a vanished port
            pass

    def _write(self, data: bytes, during: str) -> None:
        try:
            self.stream.write(data)
            self.stream.flush()
        except PORT_LOST:
            self._reconnect(during)
            self.stream.write(data)
        self.wire.sent += len(data)

    def _read_some(self, during: str) -> bytes:
        try:
            self.stream.timeout = READ_SLICE_S
            waiting = self.stream.in_waiting
            data = self.stream.read(waiting or 1)
        except PORT_LOST:
            self._reconnect(during)
            raise _Resend() from None
        self.wire.received += len(data)
        return data

    def drain(self, quiet_s: float = 0.1, max_s: float = 2.0) -> bytes:
        """Discard input until the line is quiet for `quiet_s` (resync after a failure)."""
        got = bytearray(self._rx)
        self._rx.clear()
        end, last = time.monotonic() + max_s, time.monotonic()
        while time.monotonic() < end and time.monotonic() - last < quiet_s:
            try:
                data = self.stream.read(self.stream.in_waiting or 1)
            except PORT_LOST:
                break
            if data:
                got += data
                last = time.monotonic()
        return bytes(got)

    # -- lines
    def _readline(self, during: str, deadline: float, started: list[int]) -> str:
        while True:
            nl = self._rx.find(b"\n")
            if nl >= 0:
                raw = bytes(self._rx[:nl]).rstrip(b"\r").replace(b"\x00", b"")
                del self._rx[: nl + 1]
                text = raw.decode("ascii", errors="replace")
                if not text.isprintable() or (text and not text.startswith(("m-", "e-"))):
                    raise GarbledLine(
                        f"{self.name}: garbled line in the answer to '{during}': {raw[:32]!r}"
                    )
                return text
            if time.monotonic() > deadline:
                waited = self._waited
                if started[0] or self._rx:
                    raise SlowLink(
                        f"{self.name}: answer to '{during}' incomplete after "
                        f"{waited:.1f} s ({started[0]} bytes): link too slow"
                    )
                raise BoardHang(
                    f"{self.name}: no answer to '{during}' within {waited:.1f} s: board hung"
                )
            data = self._read_some(during)
            started[0] += len(data)
            self._rx += data

    def timeout_for(self, command: str) -> float:
        """Per-command timeout: the base one, plus the benchmark's own run time."""
        parts = command.split(" ")
        if parts[0] == "bench" and len(parts) == 3 and all(p.isdigit() for p in parts[1:]):
            # 50 ms per run, or twice the slowest `infer` answer seen: a host board's
            # inference takes the host's time (reference kernels, a loaded machine)
            per_run = max(0.05, 2 * self.slowest_infer_s)
            return self.timeout_s + per_run * (int(parts[1]) + int(parts[2]))
        return self.timeout_s

    def command(
        self, line: str, payload: bytes | None = None, retry: bool = True, end: bytes = b"\n"
    ) -> Reply:
        """Send one command (and its payload); return the lines before `m-ready`."""
        name = line.split(" ", 1)[0]
        frame = line.encode("latin-1") + end + (payload or b"")
        try:
            return self._exchange(line, name, frame)
        except (GarbledLine, SlowLink, BoardHang):
            self.drain()  # the rest of a broken answer must not end up in the next one
            raise
        except _Resend:
            if not retry:
                raise BoardDisconnected(
                    f"{self.name}: port {self.port} lost during '{name}'"
                ) from None
            return self._exchange(line, name, frame)

    def _exchange(self, line: str, name: str, frame: bytes) -> Reply:
        self._write(frame, name)
        self._waited = self.timeout_for(line)
        deadline = time.monotonic() + self._waited
        lines: list[str] = []
        started = [0]
        while True:
            text = self._readline(name, deadline, started)
            if text == wire.READY:
                return Reply(name, lines)
            if text.startswith(("m-boot", "e-boot")):
                self.drain()
                raise BoardReset(f"{self.name}: board reset during '{name}' ({text})")
            if text and not text.startswith("m-detect "):  # unsolicited (live listening)
                lines.append(text)

    # -- commands
    def mlperf(self, line: str) -> list[str]:
        """An MLPerf Tiny command (`%`-terminated); the lines before `m-ready`."""
        return self.command(line, end=b"%").lines

    def sync(self, attempts: int = 3) -> dict[str, str]:
        """Resynchronize, then return the board's identity. A bare `\\n` first ends whatever
        partial line the board holds (esptool's sync bytes, a session cut mid-line): the
        board answers that fragment with an `e-` line, which is drained with the boot noise
        and stale lines (opening a port may reset a board) before `id` is sent."""
        for _ in range(attempts - 1):
            try:
                return self._resync_identity()
            except (GarbledLine, BoardReset, BoardRefused, BoardHang, SlowLink):
                continue  # still booting, or the fragment was the start of a payload
        return self._resync_identity()

    def _resync_identity(self) -> dict[str, str]:
        self._write(b"\n", "sync")
        self.drain(quiet_s=0.2, max_s=2.0)
        return self.identity()

    def identity(self) -> dict[str, str]:
        return self.command("id").fields("m-id")

    def labels(self) -> list[str]:
        return self.command("labels").line("m-labels").split(" ", 1)[1].split(",")

    def _payload_cmd(self, cmd: str, data: bytes) -> Reply:
        reply = self.command(f"{cmd} {len(data)} {wire.crc32_hex(data)}", data)
        if not reply.errors:
            self.wire.payload += len(data)
        return reply

    def infer(self, features: np.ndarray) -> dict[str, Any]:
        t = time.monotonic()
        reply = self._payload_cmd("infer", np.asarray(features, np.int8).tobytes())
        self.slowest_infer_s = max(self.slowest_infer_s, time.monotonic() - t)
        return _result(reply, "m-infer")

    def audio(self, pcm: np.ndarray) -> dict[str, Any]:
        return _result(self._payload_cmd("audio", np.asarray(pcm, "<i2").tobytes()), "m-audio")

    def features(self, pcm: np.ndarray, frames: int, channels: int) -> np.ndarray:
        f = self._payload_cmd("features", np.asarray(pcm, "<i2").tobytes()).fields("m-features")
        try:
            raw = wire.unb64(f["b64"])
        except (KeyError, ValueError):
            raise GarbledLine(f"{self.name}: m-features without valid base64") from None
        if len(raw) != int(f.get("n", -1)) or wire.crc32_hex(raw) != f.get("crc"):
            raise GarbledLine(f"{self.name}: m-features length or CRC mismatch (bytes lost)")
        self.wire.payload += len(raw)
        return np.frombuffer(raw, np.int8).reshape(frames, channels)

    def bench(self, n: int, warmup: int) -> dict[str, str]:
        return self.command(f"bench {n} {warmup}").fields("m-bench")

    def stats(self) -> dict[str, Any]:
        f: dict[str, Any] = self.command("stats").fields("m-stats")
        f["detections"] = {
            k: int(v)
            for k, _, v in (t.partition(":") for t in f["detections"].split(","))
            if f["detections"] != "-"  # no keyword labels
        }
        f["hist"] = [int(v) for v in f["hist"].split(",")]
        return f

    def clipband(self, band: tuple[int, int] | None) -> dict[str, str]:
        """Set the field-clip band (None: off); return the board's `m-clipband` fields."""
        arg = "off" if band is None else f"{band[0]} {band[1]}"
        return self.command(f"clipband {arg}").fields("m-clipband")

    def clip(self) -> dict[str, Any] | None:
        """Take the board's held field clip: fields, `scores` and `pcm` (int16); None if empty."""
        f: dict[str, Any] = self.command("clip").fields("m-clip")
        if f.get("n") == "0":
            return None
        try:
            raw = wire.unb64(f["b64"])
            f["scores"] = [int(v) for v in f["scores"].split(",")]
        except (KeyError, ValueError):
            raise GarbledLine(f"{self.name}: m-clip without valid scores or base64") from None
        if len(raw) != int(f.get("n", -1)) or wire.crc32_hex(raw) != f.get("crc"):
            raise GarbledLine(f"{self.name}: m-clip length or CRC mismatch (bytes lost)")
        self.wire.payload += len(raw)
        f["pcm"] = np.frombuffer(raw, "<i2").astype(np.int16)
        del f["b64"]
        return f

    def reset(self) -> dict[str, str]:
        """Reset; return the boot banner's fields (`m-boot`, or `e-boot` in safe mode)."""
        self.command("reset").line("m-reset")
        self._waited = self.timeout_s
        deadline = time.monotonic() + self.timeout_s
        started = [0]
        while True:
            try:
                text = self._readline("reset", deadline, started)
            except GarbledLine:
                continue  # a real board's ROM boot messages come before our banner
            if text.startswith(("m-boot", "e-boot")):
                banner = wire.parse_fields(text, text.split(" ", 1)[0])
                if self._readline("reset", deadline, started) != wire.READY:
                    raise GarbledLine(f"{self.name}: boot banner not followed by m-ready")
                return banner


class _Resend(Exception):
    """Internal: the port was reopened; send the command again."""


def _result(reply: Reply, prefix: str) -> dict[str, Any]:
    f = reply.fields(prefix)
    try:
        return {
            "idx": int(f["idx"]),
            "label": f["label"],
            "score": int(f["score"]),
            "us": int(f["us"]),
            "scores": np.array([int(v) for v in f["scores"].split(",")], np.int8),
        }
    except (KeyError, ValueError):
        raise GarbledLine(f"bad {prefix} line: {reply.line(prefix)[:64]!r}") from None
