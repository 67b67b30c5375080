"""ml.audio: 16-bit mono wav in and out, one-line errors naming the file."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from ml.audio import AudioError, read_wav, write_wav


def _raw_wav(path: Path, channels: int = 1, width: int = 2, rate: int = 16000, frames: int = 100):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(b"\x01" * frames * channels * width)


def test_round_trip(tmp_path: Path) -> None:
    audio = np.array([0, 1, -1, 32767, -32768, 1234], dtype=np.int16)
    write_wav(tmp_path / "a.wav", audio, 16000)
    back, rate = read_wav(tmp_path / "a.wav")
    assert rate == 16000
    assert back.dtype == np.int16
    np.testing.assert_array_equal(back, audio)


def test_write_is_deterministic_and_atomic(tmp_path: Path) -> None:
    audio = np.arange(-500, 500, dtype=np.int16)
    write_wav(tmp_path / "a.wav", audio, 16000)
    write_wav(tmp_path / "sub" / "b.wav", audio, 16000)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "sub" / "b.wav").read_bytes()
    assert len((tmp_path / "a.wav").read_bytes()) == 44 + 2 * 1000
    # no temp files left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "sub"]


def test_write_rejects_wrong_dtype_without_leaving_files(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as exc:
        write_wav(tmp_path / "a.wav", np.zeros(10, dtype=np.float32), 16000)
    assert str(exc.value) == f"{tmp_path / 'a.wav'}: audio must be int16, got float32"
    with pytest.raises(AudioError, match="must be 1-D mono"):
        write_wav(tmp_path / "a.wav", np.zeros((10, 2), dtype=np.int16), 16000)
    assert list(tmp_path.iterdir()) == []


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as exc:
        read_wav(tmp_path / "nope.wav")
    assert str(exc.value) == f"{tmp_path / 'nope.wav'}: no such file"


def test_garbage_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not a wav file at all, just text")
    with pytest.raises(AudioError) as exc:
        read_wav(bad)
    assert str(exc.value) == f"{bad}: unreadable wav (not a RIFF/WAVE file)"


def test_empty_file(tmp_path: Path) -> None:
    bad = tmp_path / "empty.wav"
    bad.write_bytes(b"")
    with pytest.raises(AudioError) as exc:
        read_wav(bad)
    assert str(exc.value) == f"{bad}: unreadable wav (not a RIFF/WAVE file)"


def test_stereo(tmp_path: Path) -> None:
    _raw_wav(tmp_path / "s.wav", channels=2)
    with pytest.raises(AudioError) as exc:
        read_wav(tmp_path / "s.wav")
    assert str(exc.value) == f"{tmp_path / 's.wav'}: 2 channels, expected mono"


@pytest.mark.parametrize("width", [1, 3, 4])
def test_wrong_sample_width(tmp_path: Path, width: int) -> None:
    _raw_wav(tmp_path / "w.wav", width=width)
    with pytest.raises(AudioError) as exc:
        read_wav(tmp_path / "w.wav")
    assert str(exc.value) == f"{tmp_path / 'w.wav'}: {8 * width}-bit samples, expected 16-bit"


def test_truncated(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    write_wav(path, np.ones(1000, dtype=np.int16), 16000)
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(AudioError) as exc:
        read_wav(path)
    assert str(exc.value) == f"{path}: truncated wav (750 of 1000 samples present)"


def test_other_sample_rate_is_read(tmp_path: Path) -> None:
    """read_wav reports the rate; judging it is the caller's job (ml.validate)."""
    write_wav(tmp_path / "r.wav", np.zeros(8, dtype=np.int16), 8000)
    assert read_wav(tmp_path / "r.wav")[1] == 8000


GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")


def riff(fmt_code: int, bits: int, payload: bytes, extensible_sub: int | None = None) -> bytes:
    """A wav file by hand: plain fmt, or WAVE_FORMAT_EXTENSIBLE with a sub-format."""
    channels, rate = 1, 16000
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_code, channels, rate, rate * block, block, bits)
    if extensible_sub is not None:
        fmt += struct.pack("<HHI", 22, bits, 0x4) + struct.pack("<H", extensible_sub) + GUID_TAIL
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"LIST" + struct.pack("<I", 4) + b"INFO"  # an extra chunk readers must skip
    chunks += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def test_wave_format_extensible_pcm_is_read(tmp_path: Path) -> None:
    audio = np.array([0, 1, -1, 32767, -32768, 1234], dtype=np.int16)
    path = tmp_path / "ext.wav"
    path.write_bytes(riff(0xFFFE, 16, audio.astype("<i2").tobytes(), extensible_sub=1))
    back, rate = read_wav(path)
    assert rate == 16000
    np.testing.assert_array_equal(back, audio)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (riff(3, 32, np.zeros(4, "<f4").tobytes()), "32-bit float samples, expected 16-bit PCM"),
        (
            riff(0xFFFE, 32, np.zeros(4, "<f4").tobytes(), extensible_sub=3),
            "32-bit float samples, expected 16-bit PCM",
        ),
        (riff(7, 8, b"\x00" * 4), "8-bit mu-law samples, expected 16-bit PCM"),
        (riff(1, 16, b""), "no samples (0 frames)"),
        (riff(0xFFFE, 16, b"", extensible_sub=1), "no samples (0 frames)"),
        (riff(1, 16, b"\x00" * 8)[:-3], "truncated wav (2 of 4 samples present)"),
        (riff(1, 16, b"\x00" * 8)[:20], "unreadable wav (fmt chunk too short)"),
        (riff(1, 16, b"\x00" * 8).replace(b"data", b"DATA"), "unreadable wav (no data chunk)"),
    ],
    ids=[
        "float",
        "extensible-float",
        "mu-law",
        "0-frames",
        "extensible-0-frames",
        "truncated",
        "short-fmt",
        "no-data",
    ],
)
def test_other_formats_are_named_errors(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(data)
    with pytest.raises(AudioError) as exc:
        read_wav(path)
    assert str(exc.value) == f"{path}: {message}"
