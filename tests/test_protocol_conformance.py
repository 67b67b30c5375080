"""The C++ device (firmware/core, on the host: kws_host_device) and the virtual board
(hil/virtual) answer the same malformed and edge inputs with the same lines.

One script of inputs (PROTOCOL.md "Errors" and "MLPerf errors", plus the edges around
them) goes to both; every `e-` line and `m-ready` must be identical, and lines carrying
model-dependent values (scores, latency, sha, clock) must have the same kind and keys.
The C++ side runs the test fakes for the engine and front-end, built against the same
generated model_settings.h the virtual board loads, so shapes and labels agree.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hil.boards import BOARDS_FILE
from hil.run_virtual import VirtualBoard

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
BOARD = "esp32"
FW = "9.9.9+conformance"  # both sides report this version, so m-boot/m-id compare exactly
LINE_TIMEOUT_S = (
    20.0  # the virtual board loads its front-end on first use: seconds on a loaded machine
)
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


def script(n: int, clip_bytes: int) -> list[tuple[str, bytes, int, float]]:
    """(case, bytes to send, m-ready lines it ends with, seconds to wait before reading)."""
    x = bytes(range(256)) * (n // 256 + 1)
    x = x[:n]  # contains '\n', '%' and NUL: nothing in a payload is interpreted
    zeros = bytes(n)
    pcm = b"\x00\x10\x00\xf0"  # two int16 samples: 4096, -4096
    ours = [
        ("unknown command", b"bogus arg\n"),
        ("unknown command, long", b"averyveryverylongcommandname\n"),
        ("commands are lowercase", b"ID\n"),
        ("line too long", b"x" * 129 + b"\n"),
        ("line too long, rest discarded", b"y" * 300 + b" id\n"),
        ("128 bytes + CR is a line", b"z" * 128 + b"\r\n"),
        ("CR as 129th byte, then more", b"z" * 128 + b"\rq\n"),
        ("CR as 129th and 130th byte", b"z" * 128 + b"\r\r\n"),
        ("16-byte command", b"abcdefghijklmnop\n"),
        ("too long beats bad char", b"\xff" * 130 + b"\n"),
        ("bad char", b"id\x01\n"),
        ("NUL is a bad char", b"\x00\n"),
        ("CR inside a line", b"id\rx\n"),
        ("two CRs", b"id\r\r\n"),
        ("empty lines are ignored", b"\n   \n\r\n%  %id\n"),
        ("spaces between tokens", b"  bench   2  1  \n"),
        ("id with args", b"id extra\n"),
        ("stats with args", b"stats x\n"),
        ("reset with args", b"reset now\n"),
        ("labels with args", b"labels x\n"),
        ("labels", b"labels\n"),
        ("infer, one arg", b"infer 12\n"),
        ("infer, four args", b"infer 1 00000000 x\n"),
        ("infer, negative length", b"infer -1 00000000\n"),
        ("infer, hex length", b"infer 0x10 00000000\n"),
        ("infer, 10-digit length", b"infer 0000001960 00000000\n"),
        ("infer, short crc", b"infer 1960 xyz\n"),
        ("infer, 9-digit crc", b"infer 1960 123456789\n"),
        ("infer, non-hex crc", b"infer 1960 0000000g\n"),
        ("infer, wrong length", b"infer 5 00000000\n"),
        ("infer, zero length", b"infer 0 00000000\n"),
        ("audio, odd length", b"audio 3 00000000\n"),
        ("audio, zero length", b"audio 0 00000000\n"),
        ("features, too long", f"features {clip_bytes + 2} 00000000\n".encode()),
        ("audio, bad args", b"audio 4\n"),
        ("infer, crc mismatch", f"infer {n} 00000000\n".encode() + zeros),
        ("audio, crc mismatch", b"audio 4 00000000\n\x01\x02\x03\x04"),
        ("infer, uppercase crc", f"infer {n} {crc(x).upper()}\n".encode() + x),
        ("features", f"features 4 {crc(b'1234')}\n1234".encode()),
        ("audio", f"audio 4 {crc(pcm)}\n".encode() + pcm),
        ("an MLPerf command with \\n", b"name\n"),
        ("db with \\n", b"db load 4\n"),
        ("bench 0", b"bench 0 1\n"),
        ("bench warmup 101", b"bench 1 101\n"),
        ("bench 1001", b"bench 1001 0\n"),
        ("bench one arg", b"bench 1\n"),
        ("bench non-decimal", b"bench a 1\n"),
        ("bench negative", b"bench -1 1\n"),
        ("bench", b"bench 2 0\n"),
        ("listen bad arg", b"listen maybe\n"),
        ("listen no arg", b"listen\n"),
        ("listen on, no microphone", b"listen on\n"),
        ("listen off", b"listen off\n"),
        ("tab is a bad char", b"id\t\n"),
        ("leading zeros in length", f"infer {n:09d} {crc(x)}\n".encode() + x),
        ("plus sign in length", b"infer +1960 00000000\n"),
        ("bench leading zeros", b"bench 02 000\n"),
        ("bench plus sign", b"bench +1 0\n"),
        ("bench 10 digits", b"bench 0000000001 0\n"),
        ("command glued to args", b"infer1960 00000000\n"),
        ("features, crc mismatch", b"features 2 00000000\nab"),
        ("clipband, off after boot", b"clipband\n"),
        ("clip, none held", b"clip\n"),
        ("clip, extra arg", b"clip 1\n"),
        ("clipband on", b"clipband -20 -0\n"),
        ("clipband lo > hi", b"clipband 5 4\n"),
        ("clipband below int8", b"clipband -129 0\n"),
        ("clipband 4 digits", b"clipband 0001 2\n"),
        ("clipband plus sign", b"clipband +1 2\n"),
        ("clipband one number", b"clipband 3\n"),
        ("clipband three numbers", b"clipband 1 2 3\n"),
        ("clipband unchanged", b"clipband\n"),
        ("clipband off", b"clipband off\n"),
    ]
    mlperf = [
        ("unknown", b"bogus%"),
        ("unknown, long", b"averyveryverylongcommandname%"),
        ("uppercase", b"NAME%"),
        ("line too long", b"d" * 200 + b"%"),
        ("bad char", b"name\x7f%"),
        ("too long, then %", b"y" * 300 + b"%"),
        ("128 bytes + CR then %", b"w" * 128 + b"\r%"),
        ("lone CR then %", b"\r%  %name%"),
        ("command glued", b"name1%"),
        ("our command with %", b"id%"),
        ("our payload command with %", b"features 4 00000000%"),
        ("trailing spaces", b"name   %"),
        ("name", b"name%"),
        ("profile", b"profile%"),
        ("timestamp", b"timestamp%"),
        ("results", b"results%"),
        ("name, too many args", b"name x%"),
        ("profile, too many args", b"profile x%"),
        ("timestamp, too many args", b"timestamp x%"),
        ("results, too many args", b"results x%"),
        ("db", b"db%"),
        ("db load", b"db load%"),
        ("db load 0", b"db load 0%"),
        ("db load abc", b"db load abc%"),
        ("db load -1", b"db load -1%"),
        ("db load, 10 digits", b"db load 1234567890%"),
        ("db load, over max", b"db load 99999%"),
        ("db load, 9 digits over max", b"db load 999999999%"),
        ("db load +4", b"db load +4%"),
        ("db loads", b"db loads 4%"),
        ("db load, too many args", b"db load 4 5%"),
        ("db without load", b"db 00%"),
        ("infer 0", b"infer 0%"),
        ("infer -1", b"infer -1%"),
        ("infer x", b"infer x%"),
        ("infer, warmup -1", b"infer 1 -1%"),
        ("infer, warmup x", b"infer 1 x%"),
        ("infer 100001", b"infer 100001%"),
        ("infer, warmup 10001", b"infer 1 10001%"),
        ("infer, too many args", b"infer 1 2 3%"),
        ("infer without db", b"infer 1 0%"),
        ("db load 4", b"db load 4%"),
        ("db, odd digits", b"db 123%"),
        ("db, bad hex", b"db 12zz%"),
        ("db, bad hex and odd", b"db 123z%"),
        ("db, bad hex first", b"db g1%"),
        ("db, two hex args", b"db 12 34%"),
        ("db, non-ASCII", b"db 12\x80%"),
        ("infer, db incomplete", b"infer 1 0%"),
        ("db, completes", b"db 345678aa%"),
        ("db after done", b"db 00%"),
        ("infer, db wrong size", b"infer 1 0%"),
        ("db load restarts", b"db load 4%"),
        ("db, 125 digits", b"db " + b"a" * 125 + b"%"),
        ("db, 124 digits", b"db " + b"b" * 124 + b"%"),
        ("db load full", f"db load {n}%".encode()),
        *(
            (f"db chunk {i // 62}", f"db {x.hex()[i : i + 62]}%".encode())
            for i in range(0, 2 * n, 62)
        ),
        ("infer", b"infer 2 1%"),
        ("infer, defaults", b"infer%"),
        ("infer, long zero-padded N", b"infer 000000000001 000000000000%"),
        ("infer, huge N", b"infer 99999999999999999999%"),
        ("infer +1", b"infer +1%"),
        ("infer, N only", b"infer 1%"),
        ("results, after infer", b"results%"),
    ]
    two = {"CR as 129th byte, then more"}  # two lines: wait for both answers (a pty is slower)
    cases = [(f"ours: {c}", b, 1 + (c in two), 0.0) for c, b in ours]
    # the framer answers at the 129th byte / at the terminator, not later or earlier
    cases.append(("ours: too long, before any terminator", b"x" * 129, 1, 0.0))
    cases.append(("ours: its terminator is discarded", b"abc\nid\n", 1, 0.0))
    cases.append(("ours: a lone CR ends a 128-byte line", b"v" * 128 + b"\r", 1, 0.0))
    cases.append(("ours: the LF of its CRLF is no line", b"\n", 0, 0.2))
    cases.append(("ours: help, CR-terminated", b"help\r", 1, 0.0))
    cases.append(("ours: bad char waits for the terminator", b"id\x02", 0, 0.2))
    cases.append(("ours: then the terminator ", b"%", 1, 0.0))
    head = f"infer {n} {crc(x)}\n".encode()
    cases.append(("ours: payload gap under 500 ms", head + x[:100], 0, 0.3))
    cases.append(("ours: payload rest", x[100:], 1, 0.0))
    cases.append(("ours: timeout", head + x[:10], 1, 0.7))
    cases.append(("ours: gap after 100 bytes", head + x[:100], 1, 0.7))
    cases.append(("ours: late bytes are a command line", b"id\n", 1, 0.0))
    cases.append(("ours: timeout, no byte", b"audio 4 00000000\n", 1, 0.7))
    cases += [(f"mlperf: {c}", b, 1, 0.0) for c, b in mlperf]
    discard = f"infer {n} {crc(x)}\n".encode() + x + b"infer 1 0%"
    cases.append(("mlperf: a payload discards db", discard, 2, 0.0))
    cases.append(("stats", b"stats\n", 1, 0.0))
    cases.append(("reset", b"reset\n", 2, 0.0))  # m-reset, m-ready, banner, m-ready
    cases.append(("stats after reset", b"stats\n", 1, 0.0))
    return cases


def safe_mode_script(n: int) -> list[tuple[str, bytes, int, float]]:
    """Safe mode (PROTOCOL.md "Boot"): id, stats, reset and MLPerf name/profile/timestamp
    work; everything else is e-not-ready without reading a payload."""
    ours = [
        ("labels", b"labels\n"),
        ("infer reads no payload", b"infer 3 00000000\nid\n"),
        ("infer, bad args", b"infer\n"),
        ("infer, wrong length", b"infer 5 00000000\n"),
        ("audio", b"audio 4 00000000\n"),
        ("features", b"features 4 00000000\n"),
        ("bench", b"bench 1 0\n"),
        ("bench, bad args", b"bench 0 0\n"),
        ("listen", b"listen on\n"),
        ("listen, bad args", b"listen x\n"),
        ("unknown", b"bogus\n"),
        ("id, bad args", b"id x\n"),
        ("bad char", b"id\x01\n"),
        ("line too long", b"x" * 129 + b"\n"),
        ("id", b"id\n"),
    ]
    mlperf = [
        ("name", b"name%"),
        ("profile", b"profile%"),
        ("timestamp", b"timestamp%"),
        ("name, too many args", b"name x%"),
        ("db load", f"db load {n}%".encode()),
        ("db", b"db%"),
        ("db hex", b"db 00%"),
        ("infer", b"infer 1 0%"),
        ("infer, bad args", b"infer 0%"),
        ("results", b"results%"),
        ("unknown", b"bogus%"),
    ]
    cases = [(f"ours: {c}", b, 1 + (c == "infer reads no payload"), 0.0) for c, b in ours]
    cases += [(f"mlperf: {c}", b, 1, 0.0) for c, b in mlperf]
    cases.append(("stats", b"stats\n", 1, 0.0))
    cases.append(("reset", b"reset\n", 2, 0.0))
    cases.append(("stats after reset", b"stats\n", 1, 0.0))
    return cases


def run_script(io: Lines, cases: list[tuple[str, bytes, int, float]]) -> dict[str, list[str]]:
    out = {"banner": io.until_ready(1)}
    for name, data, ready, wait in cases:
        io.write(data)
        time.sleep(wait)
        out[name] = io.until_ready(ready) + [f"<extra> {line}" for line in io.pending()]
    extra = io.line(timeout=0.3)
    out["nothing after the last m-ready"] = [] if extra is None else [extra]
    return out


@pytest.fixture(scope="module")
def settings(tiny_pipeline) -> Path:
    return tiny_pipeline / "firmware/generated/model_settings.json"


@pytest.fixture(scope="module")
def host_device(tiny_pipeline) -> Path:
    """kws_host_device built against the tiny pipeline's generated headers."""
    missing = [t for t in ("cmake", "g++") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} to build firmware/core on the host")
    build = REPO / "build" / "test-cache" / f"conformance-{tiny_pipeline.name}"
    build.mkdir(parents=True, exist_ok=True)
    generated = tiny_pipeline / "firmware" / "generated"
    with (build.parent / f"{build.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers share one build
        for cmd in (
            ["cmake", "-S", str(REPO / "firmware"), "-B", str(build),
             "-DCMAKE_BUILD_TYPE=Debug", f"-DKWS_GENERATED_DIR={generated}"],
            ["cmake", "--build", str(build), "--target", "kws_host_device", "-j2"],
        ):  # fmt: skip
            p = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
            assert p.returncode == 0, f"{' '.join(cmd)} failed:\n{p.stdout[-3000:]}{p.stderr}"
    return build / "kws_host_device"


@pytest.fixture(scope="module")
def model(settings) -> dict:
    return json.loads(settings.read_text())


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


@pytest.fixture(scope="module")
def answers(host_device, settings, model) -> Iterator[tuple[dict, dict]]:
    fe = model["frontend"]
    clip_bytes = 2 * fe["sample_rate"] * fe["clip_duration_ms"] // 1000
    cases = script(feature_bytes(model), clip_bytes)
    yield cpp_answers(host_device, cases), virtual_answers(settings, cases)


@pytest.fixture(scope="module")
def safe_answers(host_device, settings, model, tmp_path_factory) -> tuple[dict, dict]:
    """Both booted into safe mode by a model over the board's arena budget."""
    boards = yaml.safe_load(BOARDS_FILE.read_text())
    boards[BOARD]["arena_budget_bytes"] = 1024
    small = tmp_path_factory.mktemp("conformance") / "boards.yaml"
    small.write_text(yaml.safe_dump(boards))
    detail = f"arena:{model['model']['tensor_arena_size']}>1024"
    cases = safe_mode_script(feature_bytes(model))
    cpp = cpp_answers(host_device, cases, ("--boot-error", "budget", "--detail", detail))
    return cpp, virtual_answers(settings, cases, ("--boards-file", str(small)))


def assert_alike(cpp: dict[str, list[str]], virtual: dict[str, list[str]]) -> None:
    diffs = []
    for name, got in cpp.items():
        a = [normalize(line) for line in got]
        b = [normalize(line) for line in virtual[name]]
        if a != b or "<silent>" in a:  # <silent>: no m-ready in time
            diffs.append(f"{name}:\n  c++:     {a}\n  virtual: {b}")
    assert not diffs, f"{len(diffs)} of {len(cpp)} cases differ:\n" + "\n".join(diffs)


def test_both_devices_answer_every_input_alike(answers):
    assert_alike(*answers)


def test_both_devices_answer_alike_in_safe_mode(safe_answers):
    cpp, virtual = safe_answers
    assert_alike(cpp, virtual)
    assert cpp["banner"][0].startswith("e-boot reason=budget detail=arena:")
    assert cpp["ours: labels"] == ["e-not-ready reason=budget", "m-ready"]


def test_the_script_exercises_the_error_table(answers):
    # guards the comparison against a script that no longer reaches the errors it names
    cpp, _ = answers
    lines = {line.split(" ")[0].split("[")[0] for got in cpp.values() for line in got}
    errors = {"e-unknown-command", "e-line-too-long", "e-bad-char", "e-bad-args", "e-length"}
    assert errors | {"e-crc", "e-timeout", "e-not-ready", "e-"} <= lines
    assert cpp["ours: timeout"] == [f"e-timeout got=10 want={cpp_n(cpp)}", "m-ready"]
    assert cpp["mlperf: db without load"] == ["e-[No 'db load' in progress]", "m-ready"]
    assert cpp["mlperf: db, completes"] == ["m-load-done", "m-ready"]
    assert cpp["mlperf: db, 124 digits"] == ["m-load-done", "m-ready"]
    assert cpp["reset"][0] == "m-reset" and cpp["reset"][2].startswith("m-boot ")


def cpp_n(cpp: dict[str, list[str]]) -> str:
    return cpp["ours: infer, wrong length"][0].rsplit("want=", 1)[1]
