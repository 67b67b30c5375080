"""Both sides of the protocol conformance test (tests/test_protocol_conformance.py): a line
reader with a deadline per line, the normalization that keeps what both devices must agree on,
and running one script of inputs on the C++ device or on the virtual board."""

from __future__ import annotations

import os
import select
import subprocess
import time
import zlib
from pathlib import Path

from hil.run_virtual import VirtualBoard

BOARD = "esp32"
FW = "9.9.9+conformance"  # both sides report this version, so m-boot/m-id compare exactly
# the virtual board loads its front-end on first use: seconds on a loaded machine
LINE_TIMEOUT_S = 20.0
# k=v values both sides must agree on; the others (scores, latency, sha, arena) vary by engine
KEEP_VALUES = {
    "board", "fw", "proto", "input", "labels", "latency", "n", "warmup", "state",
    "inferences", "errors", "crc_errors", "timeouts",
}  # fmt: skip


def crc(data: bytes) -> str:
    return f"{zlib.crc32(data):08x}"


class Lines:
    """Reads `\\r\\n` lines from one fd and writes to another, with a deadline per line."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd, self.buf = rfd, wfd, b""

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            select.select([], [self.wfd], [], LINE_TIMEOUT_S)
            try:
                view = view[os.write(self.wfd, view) :]
            except BlockingIOError:
                pass

    def line(self, timeout: float = LINE_TIMEOUT_S) -> str | None:
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = max(0.0, end - time.monotonic())
            if not select.select([self.rfd], [], [], left)[0]:
                return None
            try:
                chunk = os.read(self.rfd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                return None
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\n", 1)
        return raw.removesuffix(b"\r").decode("ascii", errors="backslashreplace")

    def pending(self) -> list[str]:
        """Lines already sent beyond a case's last m-ready (the script is out of step)."""
        lines = []
        while (line := self.line(timeout=0.0)) is not None:
            lines.append(line)
        return lines

    def until_ready(self, count: int) -> list[str]:
        """Every line up to and including the `count`-th `m-ready` (`<silent>` on a hang)."""
        out: list[str] = []
        while count > 0:
            line = self.line()
            if line is None:
                return [*out, "<silent>"]
            out.append(line)
            count -= line == "m-ready"
        return out


def normalize(line: str) -> str:
    if line.startswith("e-") or line == "m-ready":
        return line
    if line.startswith("m-lap-us-"):
        return "m-lap-us-<n>"
    if line.startswith("m-results-["):
        return f"m-results-[<{line.count(',') + 1} values>]"
    head, _, rest = line.partition(" ")
    if "=" not in rest:
        return line  # m-labels, m-[Expecting N bytes], m-warmup-start-W ...: exact
    toks = [t.partition("=") for t in rest.split(" ")]
    return " ".join([head, *(f"{k}={value(k, v)}" for k, _, v in toks)])


def value(key: str, v: str) -> str:
    if key in KEEP_VALUES:
        return v
    if key == "hist":  # which bins depends on the scores, how many inferences does not
        return f"<sum {sum(int(c) for c in v.split(','))}>"
    if key == "detections":  # the keyword labels, not their counts
        return ",".join(d.split(":")[0] for d in v.split(","))
    return "*"


def run_script(io: Lines, cases: list[tuple[str, bytes, int, float]]) -> dict[str, list[str]]:
    out = {"banner": io.until_ready(1)}
    for name, data, ready, wait in cases:
        io.write(data)
        time.sleep(wait)
        out[name] = io.until_ready(ready) + [f"<extra> {line}" for line in io.pending()]
    extra = io.line(timeout=0.3)
    out["nothing after the last m-ready"] = [] if extra is None else [extra]
    return out


def feature_bytes(model: dict) -> int:
    _, frames, channels = model["input"]["shape"][:3]
    return frames * channels


def cpp_answers(binary: Path, cases, extra: tuple[str, ...] = ()) -> dict[str, list[str]]:
    proc = subprocess.Popen(
        [str(binary), "--board", BOARD, "--fw", FW, *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        out = run_script(Lines(proc.stdout.fileno(), proc.stdin.fileno()), cases)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    err = proc.stderr.read().decode(errors="replace")
    assert proc.returncode == 0, f"kws_host_device exit {proc.returncode}:\n{err[-3000:]}"
    return out


def virtual_answers(settings: Path, cases, extra: tuple[str, ...] = ()) -> dict[str, list[str]]:
    with VirtualBoard(BOARD, settings, ["--fw", FW, *extra]) as vb:
        fd = os.open(vb.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            return run_script(Lines(fd, fd), cases)
        finally:
            os.close(fd)


def assert_alike(cpp: dict[str, list[str]], virtual: dict[str, list[str]]) -> None:
    diffs = []
    for name, got in cpp.items():
        a = [normalize(line) for line in got]
        b = [normalize(line) for line in virtual[name]]
        if a != b or "<silent>" in a:  # <silent>: no m-ready in time
            diffs.append(f"{name}:\n  c++:     {a}\n  virtual: {b}")
    assert not diffs, f"{len(diffs)} of {len(cpp)} cases differ:\n" + "\n".join(diffs)
