"""The MLPerf Tiny command set (`%`-terminated lines) of firmware/PROTOCOL.md, worded as the
MLCommons reference firmware words it so the MLCommons Tiny runner drives our boards."""

from __future__ import annotations

import math
import re
import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hil.virtual.protocol import Device

PROFILE = "ULPMark for tinyML Firmware V0.0.1"
MODEL = "kws01"
MAX_N, MAX_W = 100000, 10000
DEFAULT_W = 10
NUM = re.compile(r"-?[0-9]+")
SAFE = {"name", "profile", "timestamp"}


class MlperfCommands:
    def __init__(self, device: Device) -> None:
        self.d = device
        self.reset()

    def reset(self) -> None:
        self.reset_db()
        self.results: list[float] | None = None

    def reset_db(self) -> None:
        self.buffer = bytearray()
        self.expected: int | None = None  # bytes of the `db load` in progress
        self.loaded = 0  # bytes of the last completed load

    def _err(self, text: str) -> None:
        self.d.error(f"e-[{text}]")

    def dispatch(self, line: str) -> None:
        cmd, *args = line.split()
        handler = getattr(self, f"_{cmd}", None) if cmd in COMMANDS else None
        if handler is None:
            self._err(f"Unknown command: {cmd[:16]}")
        elif not self.d.engine_ready and cmd not in SAFE:
            self.d.not_ready()
        else:
            handler(args)

    def _input_bytes(self) -> int:
        f = self.d.engine.facts
        return f.frames * f.channels

    def _name(self, args: list[str]) -> None:
        if args:
            self._err("Too many arguments")
        else:
            self.d.send(f"m-name-dut-[kws-{self.d.engine.board}]")

    def _profile(self, args: list[str]) -> None:
        if args:
            self._err("Too many arguments")
        else:
            self.d.send(f"m-profile-[{PROFILE}]")
            self.d.send(f"m-model-[{MODEL}]")

    def _timestamp(self, args: list[str]) -> None:
        if args:
            self._err("Too many arguments")
        else:
            self.d.send(f"m-lap-us-{self.d.clock_us()}")

    def _db(self, args: list[str]) -> None:
        if not args:
            self._err("Command 'db' requires a subcommand")
        elif args[0] == "load":
            self._db_load(args[1:])
        elif len(args) > 1:
            self._err("Too many arguments")
        else:
            self._db_hex(args[0])

    def _db_load(self, args: list[str]) -> None:
        if not args:
            self._err("Command 'db load' requires the # of bytes")
            return
        if len(args) > 1:
            self._err("Too many arguments")
            return
        tok, most = args[0], self._input_bytes()
        if not (tok.isdigit() and tok.isascii() and len(tok) <= 9) or int(tok) == 0:
            self._err("Command 'db load' must be >0 bytes")
            return
        n = int(tok)
        if n > most:
            self._err(f"Supplied buffer size {n} exceeds maximum of {most}")
            return
        self.buffer, self.expected, self.loaded = bytearray(), n, 0
        self.d.send(f"m-[Expecting {n} bytes]")

    def _db_hex(self, digits: str) -> None:
        if self.expected is None:
            self._err("No 'db load' in progress")
            return
        if len(digits) % 2:
            self._err("Insufficent number of hex digits")
            return
        for i in range(0, len(digits), 2):
            pair = digits[i : i + 2]
            if not all(c in "0123456789abcdefABCDEF" for c in pair):
                self._err(f"Invalid hex digit '{pair}'")
                return
            if len(self.buffer) < self.expected:
                self.buffer.append(int(pair, 16))
            if len(self.buffer) == self.expected:
                self.loaded, self.expected = len(self.buffer), None
                self.d.send("m-load-done")
                return

    def _infer_args(self, args: list[str]) -> tuple[int, int] | None:
        """(N, W) of `infer [N [W]]`, or None after its error line."""
        if len(args) > 2:
            self._err("Too many arguments")
            return None
        n_tok = args[0] if args else "1"
        w_tok = args[1] if len(args) > 1 else str(DEFAULT_W)
        if not NUM.fullmatch(n_tok) or int(n_tok) <= 0:
            self._err("Inference iterations must be >0")
        elif not NUM.fullmatch(w_tok) or int(w_tok) < 0:
            self._err("Inference warmup must be >=0")
        elif int(n_tok) > MAX_N or int(w_tok) > MAX_W:
            self._err("Inference iterations out of range")
        else:
            want = self._input_bytes()
            if self.loaded == want and self.expected is None:
                return int(n_tok), int(w_tok)
            got = len(self.buffer) if self.expected is not None else self.loaded
            self._err(f"Input db has {got} elements, expected {want}")
        return None

    def _infer(self, args: list[str]) -> None:
        nw = self._infer_args(args)
        if nw is None:
            return
        n, w = nw
        f = self.d.engine.facts
        x = np.frombuffer(bytes(self.buffer), np.int8).reshape(f.frames, f.channels)
        us = self.d.engine.latency_us
        self.d.send(f"m-warmup-start-{w}")
        if self._run(x, w, us) is False:
            return
        self.d.send("m-warmup-done")
        self.d.send(f"m-infer-start-{n}")
        self.d.send(f"m-lap-us-{self.d.clock_us()}")
        scores = self._run(x, n, us)
        self.d.send(f"m-lap-us-{self.d.clock_us()}")
        if scores is False:
            return
        self.d.send("m-infer-done")
        if scores is not None:
            o = self.d.engine.settings["output"]
            # double precision with the float32 scale, as the firmware computes it
            scale, zp = float(np.float32(o["scale"])), int(o["zero_point"])
            self.results = [(int(q) - zp) * scale for q in scores]
        self._send_results()

    def _run(self, x: np.ndarray, count: int, us: int) -> np.ndarray | bool | None:
        """The last scores (None when count is 0); False after `e-internal`."""
        scores = None
        t = time.monotonic()
        for _ in range(count):
            try:
                scores = self.d.engine.infer(x)
            except Exception:
                self.d.error("e-internal cmd=infer")
                return False
            self.d.c.inferences += 1  # counted, but not fed to the recognizer telemetry
        self.d.spend_us(us * count, time.monotonic() - t)
        return scores

    def _results(self, args: list[str]) -> None:
        if args:
            self._err("Too many arguments")
        else:
            self._send_results()

    def _send_results(self) -> None:
        vals = self.results or [0.0] * len(self.d.engine.facts.labels)
        self.d.send("m-results-[" + ",".join(map(trunc3, vals)) + "]")


def trunc3(v: float) -> str:
    """Truncated toward zero to 3 decimals, as the reference firmware prints results."""
    t = math.trunc(v * 1000)
    return f"{'-' if t < 0 else ''}{abs(t) // 1000}.{abs(t) % 1000:03d}"


COMMANDS = ("name", "profile", "timestamp", "db", "infer", "results")
