"""The virtual board against firmware/PROTOCOL.md: every malformed input gets its exact
e- line and one m-ready, MLPerf Tiny commands answer as the runner expects, and a model over
a board's budget boots into safe mode."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
import yaml

from hil.boards import BOARDS_FILE
from hil.client import Client
from hil.run_virtual import VirtualBoard

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(tiny_pipeline):
    settings = tiny_pipeline / "firmware/generated/model_settings.json"
    vectors = tiny_pipeline / "hil/vectors"
    with np.load(vectors / "features.npz") as z:
        return settings, z["x"][0].tobytes(), json.loads(settings.read_text())


@pytest.fixture(scope="module")
def board(model):
    with VirtualBoard("esp32", model[0]) as vb:
        client = Client(vb.port, timeout_s=3.0, name="esp32")
        yield client
        client.close()


def crc(data: bytes) -> str:
    return f"{zlib.crc32(data):08x}"


def test_malformed_inputs_get_their_exact_error_lines(board, model):
    x = model[1]
    n = 1960  # one feature set: 49 frames x 40 channels of int8
    clip = 32000  # the longest audio payload: 1 s at 16 kHz of int16
    assert len(x) == n
    before = int(board.stats()["errors"])
    cases = [
        ("bogus arg", None, "e-unknown-command cmd=bogus"),
        ("averyveryverylongcommandname", None, "e-unknown-command cmd=averyveryverylon"),
        ("x" * 129, None, "e-line-too-long max=128"),
        ("id\x01", None, "e-bad-char"),
        ("id extra", None, "e-bad-args cmd=id args=none"),
        ("infer 12", None, f"e-bad-args cmd=infer len={n} crc=<crc32>"),
        ("infer -1 00000000", None, f"e-bad-args cmd=infer len={n} crc=<crc32>"),
        ("infer 1960 xyz", None, f"e-bad-args cmd=infer len={n} crc=<crc32>"),
        ("infer 1960 123456789", None, f"e-bad-args cmd=infer len={n} crc=<crc32>"),
        ("infer 5 00000000", None, f"e-length cmd=infer got=5 want={n}"),
        ("audio 3 00000000", None, f"e-length cmd=audio got=3 want=2-{clip}"),
        (
            f"features {clip + 2} 00000000",
            None,
            f"e-length cmd=features got={clip + 2} want=2-{clip}",
        ),
        (f"infer {n} 00000000", x, f"e-crc got={crc(x)} want=00000000"),
        ("bench 0 1", None, "e-bad-args cmd=bench n=1-1000 warmup=0-100"),
        ("bench 1 101", None, "e-bad-args cmd=bench n=1-1000 warmup=0-100"),
        ("bench 1001 0", None, "e-bad-args cmd=bench n=1-1000 warmup=0-100"),
    ]
    for line, payload, want in cases:
        assert board.command(line, payload).lines == [want], line
    t = time.monotonic()
    assert board.command(f"infer {n} {crc(x)}", x[:10]).lines == [f"e-timeout got=10 want={n}"]
    assert 0.5 <= time.monotonic() - t < 2.0
    s = board.stats()
    assert int(s["errors"]) - before == len(cases) + 1
    assert int(s["timeouts"]) >= 1 and int(s["crc_errors"]) >= 1


def test_empty_lines_spaces_and_crlf(board):
    board._write(b"\n\r\n   \n", "empty")
    assert board.command("id\r").fields("m-id")["board"] == "esp32"
    assert board.command("  stats  ").fields("m-stats")["errors"].isdigit()
    assert board.command("bench   2  1").fields("m-bench")["n"] == "2"
    assert board.command("infer 0000001960 00000000").lines == [
        "e-bad-args cmd=infer len=1960 crc=<crc32>"
    ]
    assert board.command("id\x01").lines == ["e-bad-char"]


def test_a_person_can_type_it(board):
    """picocom/screen send a lone '\r' on Enter; `help` lists the commands and arguments."""
    assert board.command("id", end=b"\r").fields("m-id")["board"] == "esp32"
    assert board.command("labels", end=b"\r\n").lines[0].startswith("m-labels ")
    help_lines = board.command("help", end=b"\r").lines
    assert help_lines[0] == "m-help id args=none"
    assert "m-help bench n=1-1000 warmup=0-100" in help_lines
    assert help_lines[-1].startswith("m-help mlperf=name%,")


def test_listen_without_microphone(board):
    assert board.command("listen on").lines == ["e-not-ready reason=no-audio-source"]
    assert board.command("listen off").lines == ["m-listen state=off"]
    assert board.command("listen maybe").lines == ["e-bad-args cmd=listen state=on|off"]


def test_payload_may_contain_terminators(board, model):
    x = bytes(range(256)) * 8
    x = x[: len(model[1])]  # '\n', '%' and NUL inside the payload
    out = board.infer(np.frombuffer(x, np.int8))
    assert 0 <= out["idx"] < len(model[2]["labels"])


def test_mlperf_commands(board, model):
    x, labels = model[1], model[2]["labels"]
    assert board.mlperf("name") == ["m-name-dut-[kws-esp32]"]
    assert board.mlperf("profile") == [
        "m-profile-[ULPMark for tinyML Firmware V0.0.1]",
        "m-model-[kws01]",
    ]
    assert board.mlperf(f"db load {len(x)}") == [f"m-[Expecting {len(x)} bytes]"]
    hexed = x.hex()
    for i in range(0, len(hexed), 62):
        lines = board.mlperf(f"db {hexed[i : i + 62]}")
    assert lines == ["m-load-done"]
    lines = board.mlperf("infer 3 1")
    assert lines[:3] == ["m-warmup-start-1", "m-warmup-done", "m-infer-start-3"]
    t0, t1 = (int(v.removeprefix("m-lap-us-")) for v in lines[3:5])
    assert t1 > t0 and lines[5] == "m-infer-done"
    results = lines[6].removeprefix("m-results-[").removesuffix("]").split(",")
    assert len(results) == len(labels) and all(len(r.split(".")[1]) == 3 for r in results)
    assert board.mlperf("results") == [lines[6]]


def test_mlperf_errors(board):
    cases = [
        ("bogus", "e-[Unknown command: bogus]"),
        ("db", "e-[Command 'db' requires a subcommand]"),
        ("db load", "e-[Command 'db load' requires the # of bytes]"),
        ("db load 0", "e-[Command 'db load' must be >0 bytes]"),
        ("db load 99999", "e-[Supplied buffer size 99999 exceeds maximum of 1960]"),
        ("db 00", "e-[No 'db load' in progress]"),
        ("infer 0", "e-[Inference iterations must be >0]"),
        ("infer 1 -1", "e-[Inference warmup must be >=0]"),
        ("infer 100001", "e-[Inference iterations out of range]"),
        ("name x", "e-[Too many arguments]"),
    ]
    for line, want in cases:
        assert board.mlperf(line) == [want], line
    assert board.mlperf("db load 4") == ["m-[Expecting 4 bytes]"]
    assert board.mlperf("db 123") == ["e-[Insufficent number of hex digits]"]
    assert board.mlperf("db 12zz") == ["e-[Invalid hex digit 'zz']"]
    assert board.mlperf("infer 1 0") == ["e-[Input db has 1 elements, expected 1960]"]


def _boot_line(settings_path, extra):
    with VirtualBoard("nano33ble", settings_path, extra) as vb:
        client = Client(vb.port, timeout_s=3.0, name="nano33ble")
        banner = client.reset()
        # safe mode reads no payload: the 3 bytes after the line are the next command
        refused = client.command("infer 3 00000000", b"id\n").lines
        after = client.drain(quiet_s=0.3)
        ident = client.identity()
        mlperf = client.mlperf("name")
        stats = client.stats()
        client.close()
    assert b"\r\nm-id board=nano33ble " in b"\r\n" + after
    return banner, refused, ident, mlperf, stats


def test_model_over_budget_boots_into_safe_mode(model, tmp_path):
    boards = yaml.safe_load(BOARDS_FILE.read_text())
    boards["nano33ble"]["arena_budget_bytes"] = 1024
    small = tmp_path / "boards.yaml"
    small.write_text(yaml.safe_dump(boards))
    banner, refused, ident, mlperf, stats = _boot_line(model[0], ["--boards-file", str(small)])
    size = model[2]["model"]["tensor_arena_size"]
    assert banner == {"reason": "budget", "detail": f"arena:{size}>1024"}
    assert refused == ["e-not-ready reason=budget"]
    assert ident["model_sha256"] == model[2]["model"]["sha256"]
    assert mlperf == ["m-name-dut-[kws-nano33ble]"]
    assert int(stats["errors"]) == 2  # the e-boot line and the refusal


def test_wrong_settings_schema_boots_into_safe_mode(model, tmp_path):
    """Settings the firmware cannot take are a bad image, not a CLI error: the board comes up
    in safe mode naming the field (an erased slot boots the same way)."""
    s = dict(model[2], schema=2)
    path = tmp_path / "model_settings.json"
    path.write_text(json.dumps(s))
    model_file = model[0].parent / model[2]["model"]["file"]
    banner, refused, ident, _, _ = _boot_line(path, ["--model", str(model_file)])
    assert banner == {"reason": "model-schema", "detail": "schema=2"}
    assert refused == ["e-not-ready reason=model-schema"]
    assert ident["model_sha256"] == model[2]["model"]["sha256"]


def test_non_numeric_settings_field_boots_into_safe_mode_naming_it(model, tmp_path):
    """A settings value that is not a number is a bad image too (it was a traceback)."""
    s = json.loads(json.dumps(model[2]))
    s["frontend"]["sample_rate"] = "16k"
    path = tmp_path / "model_settings.json"
    path.write_text(json.dumps(s))
    model_file = model[0].parent / model[2]["model"]["file"]
    banner, refused, ident, _, _ = _boot_line(path, ["--model", str(model_file)])
    assert banner == {"reason": "model-schema", "detail": "frontend.sample_rate"}
    assert refused == ["e-not-ready reason=model-schema"]
    assert ident["model_sha256"] == model[2]["model"]["sha256"]


def test_cli_errors_are_one_line(tmp_path):
    def run(*args):
        p = subprocess.run(
            [sys.executable, "-m", "hil.virtual", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return p.returncode, p.stderr.strip().splitlines()[-1]

    assert run("--board", "uno", "--settings", "x.json") == (
        1,
        f"error: {BOARDS_FILE}: unknown board 'uno' (known: esp32, nano33ble)",
    )
    missing = tmp_path / "none.json"
    assert run("--board", "esp32", "--settings", str(missing)) == (
        1,
        f"error: {missing}: cannot read (No such file or directory)",
    )
