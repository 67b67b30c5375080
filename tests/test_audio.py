"""ml.audio: 16-bit mono wav in and out, one-line errors naming the file."""

from __future__ import annotations

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
    assert str(exc.value) == f"{bad}: unreadable wav (file does not start with RIFF id)"


def test_empty_file(tmp_path: Path) -> None:
    bad = tmp_path / "empty.wav"
    bad.write_bytes(b"")
    with pytest.raises(AudioError) as exc:
        read_wav(bad)
    assert str(exc.value) == f"{bad}: unreadable wav (EOFError)"


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
