"""Read and write the dataset's wav files: 16-bit PCM, mono.

The stdlib `wave` module plus numpy is all we need for Speech Commands' format, so no
soundfile/libsndfile dependency. Every problem with a file is an `AudioError` whose one-line
message names the file.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from ml.errors import KwsError
from ml.fsutil import atomic_open


class AudioError(KwsError):
    """A wav file is unreadable, corrupt or not 16-bit mono PCM."""


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Return (int16 mono samples, sample rate) of a 16-bit PCM mono wav file."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            n_frames = w.getnframes()
            raw = w.readframes(n_frames)
    except FileNotFoundError:
        raise AudioError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise AudioError(f"{path}: is a directory, not a wav file") from None
    except (wave.Error, EOFError, OSError) as exc:
        # wave.Error covers "file does not start with RIFF id", unknown formats, etc.
        reason = str(exc) or type(exc).__name__
        raise AudioError(f"{path}: unreadable wav ({reason})") from None
    if channels != 1:
        raise AudioError(f"{path}: {channels} channels, expected mono")
    if width != 2:
        raise AudioError(f"{path}: {8 * width}-bit samples, expected 16-bit")
    if len(raw) != n_frames * 2:
        raise AudioError(f"{path}: truncated wav ({len(raw) // 2} of {n_frames} samples present)")
    return np.frombuffer(raw, dtype="<i2").astype(np.int16), rate


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write int16 mono samples as a 16-bit PCM wav; atomic (temp file + rename)."""
    path = Path(path)
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise AudioError(f"{path}: audio must be 1-D mono, got shape {audio.shape}")
    if audio.dtype != np.int16:
        raise AudioError(f"{path}: audio must be int16, got {audio.dtype}")
    with atomic_open(path, "wb") as f, wave.open(f, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(audio.astype("<i2").tobytes())
