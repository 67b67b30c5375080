"""The device side of firmware/PROTOCOL.md: one byte-at-a-time line parser for our commands
(`\\n`) and the MLPerf Tiny ones (`%`), bounded payload reads with CRC and the 500 ms gap rule,
telemetry counters, safe mode, and fault hooks. Compute is the Engine's job.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from hil import wire
from hil.virtual.engine import Engine
from hil.virtual.faults import Faults
from hil.virtual.field_clip import FieldClip
from hil.virtual.mlperf import MlperfCommands

log = logging.getLogger(__name__)

DEC = re.compile(r"[0-9]{1,9}")
HEX8 = re.compile(r"[0-9a-fA-F]{8}")
SAFE_COMMANDS = {"id", "stats", "reset"}


class Port(Protocol):
    path: str
    closed: bool

    def read(self, timeout: float | None) -> bytes: ...
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...


class Reboot(Exception):
    """Raised inside a command to restart the device (reset command or reset fault)."""


@dataclass
class Counters:
    boot: float = field(default_factory=time.monotonic)
    inferences: int = 0
    errors: int = 0
    crc_errors: int = 0
    timeouts: int = 0
    detections: dict[str, int] = field(default_factory=dict)
    hist: list[int] = field(default_factory=lambda: [0] * wire.NUM_HIST_BINS)


class Device:
    """A board speaking PROTOCOL.md over `port` until the port closes."""

    def __init__(self, engine: Engine, port: Port, fw: str, faults: Faults | None = None) -> None:
        self.engine, self.port, self.fw = engine, port, fw
        self.faults = faults or Faults()
        self._rx = bytearray()
        self._clock_offset_us = 0
        self.mlperf = MlperfCommands(self)
        self.field_clip = FieldClip()
        self._boot()

    # -- boot and output
    def _boot(self) -> None:
        self.c = Counters()
        self._clock_offset_us = 0
        self.engine_ready = self.engine.boot_error is None
        if self.engine_ready:
            self.engine.last_features = np.zeros(
                (self.engine.facts.frames, self.engine.facts.channels), np.int8
            )
        self.mlperf.reset()
        self.field_clip.reset()
        e = self.engine.boot_error
        if e is None:
            self.send(f"m-boot board={self.engine.board} fw={self.fw} proto={wire.PROTO_VERSION}")
        else:
            self.error(f"e-boot reason={e.reason} detail={e.detail}")
        self.send(wire.READY)

    def send(self, line: str) -> None:
        self.port.write(line.encode("ascii") + b"\r\n")

    def error(self, line: str) -> None:
        self.c.errors += 1
        self.send(line)

    def clock_us(self) -> int:
        """Device clock (µs since boot, uint32): real time plus the estimated compute time."""
        real = int((time.monotonic() - self.c.boot) * 1e6)
        return (real + self._clock_offset_us) & 0xFFFFFFFF

    def spend_us(self, estimated: int, real_s: float) -> None:
        """Advance the device clock so compute takes the board's estimate, not host time."""
        self._clock_offset_us += max(0, estimated - int(real_s * 1e6))

    # -- input
    def _fill(self, timeout: float | None) -> bool:
        data = self.port.read(timeout)
        self._rx += data
        return bool(data)

    def _drain(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self._fill(left)
        self._rx.clear()

    def read_payload(self, n: int) -> bytes | None:
        """Exactly `n` bytes with no gap over 500 ms, else `e-timeout` and None."""
        while len(self._rx) < n:
            if not self._fill(wire.PAYLOAD_GAP_S):
                got = len(self._rx)
                self._rx.clear()
                self.c.timeouts += 1
                self.error(f"e-timeout got={got} want={n}")
                return None
        data = bytes(self._rx[:n])
        del self._rx[:n]
        return data

    def serve(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Parse and answer commands until the port closes or `stop()` is true."""
        line = bytearray()
        discarding = False
        while not stop() and not self.port.closed:
            if not self._rx and not self._fill(0.2):
                continue
            b = self._rx.pop(0)
            if b in (0x0A, 0x25):  # '\n' ours, '%' MLPerf
                if discarding:
                    discarding = False
                    line.clear()
                    continue
                text = bytes(line[:-1] if line.endswith(b"\r") else line)
                line.clear()
                if text.strip(b" "):  # empty or all-space lines get no answer
                    self._command(text, mlperf=b == 0x25)
                continue
            if discarding:
                continue
            line.append(b)
            if len(line) > wire.MAX_LINE and not (len(line) == wire.MAX_LINE + 1 and b == 0x0D):
                self.error(f"e-line-too-long max={wire.MAX_LINE}")
                self.send(wire.READY)
                discarding = True
                line.clear()

    def _command(self, text: bytes, mlperf: bool) -> None:
        fault = self.faults.on_command()
        if fault == "disconnect":
            self.port.unplug()
            return
        try:
            if fault == "reset":
                self._drain(0.3)  # rebooting: whatever arrives meanwhile is lost
                raise Reboot
            if any(b < 0x20 or b > 0x7E for b in text):
                self.error("e-bad-char")
            elif mlperf:
                self.mlperf.dispatch(text.decode("ascii"))
            else:
                self._dispatch(text.decode("ascii"))
            self.send(wire.READY)
        except Reboot:
            self._rx.clear()
            self._boot()

    # -- our command table
    def _dispatch(self, line: str) -> None:
        cmd, *args = line.split()  # tokens: one or more spaces apart
        handler = getattr(self, f"cmd_{cmd}", None) if cmd in COMMANDS else None
        if handler is None:
            self.error(f"e-unknown-command cmd={cmd[:16]}")
            return
        if not self.engine_ready and cmd not in SAFE_COMMANDS:
            self.not_ready()  # and no payload byte is read: they arrive as lines
            return
        handler(args)

    def not_ready(self) -> None:
        assert self.engine.boot_error is not None
        self.error(f"e-not-ready reason={self.engine.boot_error.reason}")

    def _payload(self, cmd: str, args: list[str]) -> bytes | None:
        if len(args) != 2 or not DEC.fullmatch(args[0]) or not HEX8.fullmatch(args[1]):
            self.error(f"e-bad-args cmd={cmd}")
            return None
        n, want = int(args[0]), args[1].lower()
        f = self.engine.facts
        bound = wire.payload_bounds(f.frames, f.channels, self.engine.clip_samples)[cmd]
        if not bound.ok(n):
            self.error(f"e-length cmd={cmd} got={n} want={bound.want()}")
            return None
        self.mlperf.reset_db()  # a payload overwrites the buffer MLPerf's db fills
        data = self.read_payload(n)
        if data is None:
            return None
        got = wire.crc32_hex(data)
        if got != want:
            self.c.crc_errors += 1
            self.error(f"e-crc got={got} want={want}")
            return None
        return data

    def _no_args(self, cmd: str, args: list[str]) -> bool:
        if args:
            self.error(f"e-bad-args cmd={cmd}")
            return False
        return True

    def cmd_id(self, args: list[str]) -> None:
        if self._no_args("id", args):
            f = self.engine.facts
            self.send(
                f"m-id board={self.engine.board} fw={self.fw} proto={wire.PROTO_VERSION} "
                f"model_sha256={f.sha256} arena_size={f.arena_size} arena_used={f.arena_used} "
                f"input={f.frames}x{f.channels} labels={len(f.labels)} latency=estimated"
            )

    def cmd_labels(self, args: list[str]) -> None:
        if self._no_args("labels", args):
            self.send("m-labels " + ",".join(self.engine.facts.labels))

    def _run(self, cmd: str, features: np.ndarray) -> tuple[np.ndarray, int] | None:
        """One inference that feeds the telemetry; None (and e-internal) if it failed."""
        t = time.monotonic()
        try:
            scores = self.engine.infer(features)
        except Exception:
            log.exception("%s failed", cmd)
            self.error(f"e-internal cmd={cmd}")
            return None
        self.spend_us(self.engine.latency_us, time.monotonic() - t)
        top = int(np.argmax(scores))
        self.c.inferences += 1
        self.c.hist[wire.score_bin(scores[top])] += 1
        label = self.engine.facts.labels[top]
        if not label.startswith("_") and int(scores[top]) >= self.engine.threshold:
            self.c.detections[label] = self.c.detections.get(label, 0) + 1
        return scores, top

    def _result_line(self, prefix: str, scores: np.ndarray, top: int) -> str:
        return (
            f"{prefix} idx={top} label={self.engine.facts.labels[top]} score={int(scores[top])} "
            f"us={self.engine.latency_us} scores={','.join(str(int(s)) for s in scores)}"
        )

    def cmd_infer(self, args: list[str]) -> None:
        data = self._payload("infer", args)
        if data is not None:
            f = self.engine.facts
            x = np.frombuffer(data, np.int8).reshape(f.frames, f.channels)
            out = self._run("infer", x)
            if out:
                self.send(self._result_line("m-infer", *out))

    def _frontend(self, cmd: str, args: list[str]) -> np.ndarray | None:
        data = self._payload(cmd, args)
        if data is None:
            return None
        self._pcm = np.frombuffer(data, "<i2").astype(np.int16)  # kept for field clips
        try:
            return self.engine.features_of(self._pcm)
        except Exception:
            log.exception("front-end failed")
            self.error(f"e-internal cmd={cmd}")
            return None

    def cmd_audio(self, args: list[str]) -> None:
        x = self._frontend("audio", args)
        if x is not None:
            out = self._run("audio", x)
            if out:
                self.send(self._result_line("m-audio", *out))
                self.field_clip.offer(self._pcm, self.engine.clip_samples, *out)

    def cmd_clip(self, args: list[str]) -> None:
        line, ok = self.field_clip.take(args, self.engine.facts.labels)
        self.send(line) if ok else self.error(line)

    def cmd_clipband(self, args: list[str]) -> None:
        line, ok = self.field_clip.set_band(args)
        self.send(line) if ok else self.error(line)

    def cmd_features(self, args: list[str]) -> None:
        x = self._frontend("features", args)
        if x is not None:
            self.engine.last_features = x  # bench runs on the last front-end output too
            raw = x.astype(np.int8).tobytes()
            self.send(f"m-features n={len(raw)} crc={wire.crc32_hex(raw)} b64={wire.b64(raw)}")

    def cmd_bench(self, args: list[str]) -> None:
        lo_n, hi_n = wire.BENCH_N
        lo_w, hi_w = wire.BENCH_WARMUP
        if len(args) != 2 or not all(DEC.fullmatch(a) for a in args):
            self.error("e-bad-args cmd=bench")
            return
        n, w = int(args[0]), int(args[1])
        if not (lo_n <= n <= hi_n and lo_w <= w <= hi_w):
            self.error("e-bad-args cmd=bench")
            return
        x = self.engine.last_features
        t = time.monotonic()
        try:
            for _ in range(n + w):
                self.engine.infer(x)
        except Exception:
            log.exception("bench failed")
            self.error("e-internal cmd=bench")
            return
        self.c.inferences += n + w  # as MLPerf's infer: counted, not fed to hist/detections
        us = self.engine.latency_us
        self.spend_us(us * (n + w), time.monotonic() - t)
        self.send(
            f"m-bench n={n} warmup={w} min_us={us} p50_us={us} p95_us={us} max_us={us} "
            f"mean_us={us} latency=estimated"
        )

    def cmd_stats(self, args: list[str]) -> None:
        if not self._no_args("stats", args):
            return
        c = self.c
        keywords = [lb for lb in self.engine.facts.labels if not lb.startswith("_")]
        det = ",".join(f"{lb}:{c.detections.get(lb, 0)}" for lb in keywords) or "-"
        uptime = int((time.monotonic() - c.boot) * 1000)
        self.send(
            f"m-stats uptime_ms={uptime} inferences={c.inferences} errors={c.errors} "
            f"crc_errors={c.crc_errors} timeouts={c.timeouts} detections={det} "
            f"hist={','.join(map(str, c.hist))}"
        )

    def cmd_reset(self, args: list[str]) -> None:
        if self._no_args("reset", args):
            self.send("m-reset")
            self.send(wire.READY)
            raise Reboot

    def cmd_listen(self, args: list[str]) -> None:
        if len(args) != 1 or args[0] not in ("on", "off"):
            self.error("e-bad-args cmd=listen")
        elif args[0] == "on":
            self.error("e-not-ready reason=no-audio-source")  # no microphone here
        else:
            self.send("m-listen state=off")


COMMANDS = ("id", "labels", "infer", "audio", "features", "bench", "stats", "reset", "listen")
COMMANDS += ("clip", "clipband")  # field clips (hil/virtual/field_clip.py)
