"""Bad data, table-driven (the harness: tests/bad_inputs.py): `ml.validate` on a copy of the
tiny dataset with one bad wav or list entry, or no dataset; one error line naming the file."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ml.audio import write_wav
from tests.bad_inputs import Case, P, Ws, check_table, plain, run_case, validate_cmd

# ------------------------------------------------------------------ mutations


def riff(code: int, bits: int, payload: bytes, sub: int | None = None, channels: int = 1) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", code, channels, 16000, 16000 * block, block, bits)
    if sub is not None:
        fmt += struct.pack("<HHIH", 22, bits, 4, sub)
        fmt += bytes.fromhex("000000001000800000aa00389b71")
    body = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def bad_wav(data: bytes) -> Callable[[Ws], None]:
    def apply(ws: Ws) -> None:
        ws.write_params()
        ws.clip().write_bytes(data)

    return apply


def long_wav(ws: Ws) -> None:
    ws.write_params()
    write_wav(ws.clip(), np.zeros(17000, np.int16), 16000)


def wrong_rate_wav(ws: Ws) -> None:
    ws.write_params()
    write_wav(ws.clip(), np.zeros(8000, np.int16), 8000)


def truncated_wav(ws: Ws) -> None:
    ws.write_params()
    path = ws.clip()
    path.write_bytes(path.read_bytes()[:1044])


def dangling_list_entry(ws: Ws) -> None:
    ws.write_params()
    with (ws.data_copy() / "testing_list.txt").open("a") as f:
        f.write("yes/ffffffff_nohash_0.wav\n")


CASES: list[Case] = [
    # ---- data (validate on a copy of the tiny dataset with one bad file)
    Case("wav-float", bad_wav(riff(3, 32, np.zeros(160, "<f4").tobytes())), validate_cmd,
         ".wav: 32-bit float samples, expected 16-bit PCM"),
    Case("wav-extensible-float", bad_wav(riff(0xFFFE, 32, bytes(640), sub=3)), validate_cmd,
         ".wav: 32-bit float samples, expected 16-bit PCM"),
    Case("wav-0-frames", bad_wav(riff(1, 16, b"")), validate_cmd, ".wav: no samples (0 frames)"),
    Case("wav-extensible-0-frames", bad_wav(riff(0xFFFE, 16, b"", sub=1)), validate_cmd,
         ".wav: no samples (0 frames)"),
    Case("wav-stereo", bad_wav(riff(1, 16, bytes(640), channels=2)), validate_cmd,
         ".wav: 2 channels, expected mono"),
    Case("wav-8-bit", bad_wav(riff(1, 8, bytes(160))), validate_cmd,
         ".wav: 8-bit samples, expected 16-bit"),
    Case("wav-not-riff", bad_wav(b"ID3 not a wav"), validate_cmd,
         ".wav: unreadable wav (not a RIFF/WAVE file)"),
    Case("wav-truncated", truncated_wav, validate_cmd, ".wav: truncated wav (500 of 16000"),
    Case("wav-rate", wrong_rate_wav, validate_cmd, ".wav: sample rate 8000 Hz, expected 16000"),
    Case("wav-too-long", long_wav, validate_cmd, ".wav: 1062 ms long, above validate.max_clip_ms"),
    Case("list-dangling", dangling_list_entry, validate_cmd,
         "testing_list.txt: lists yes/ffffffff_nohash_0.wav, which does not exist"),
    Case("data-missing", plain,
         lambda ws: ["-m", "ml.validate", "--data", "nodata", "--report", "out/d.json",
                     "--params", P],
         "nodata: dataset directory not found"),
]  # fmt: skip


def test_the_table_is_big_enough() -> None:
    check_table(CASES, 12)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tiny_pipeline: Path, tmp_path: Path) -> None:
    run_case(case, tiny_pipeline, tmp_path)
