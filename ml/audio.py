"""Read and write the dataset's wav files: 16-bit PCM, mono.

Reading parses the RIFF chunks itself (a few lines with `struct`), because Python 3.11's
`wave` rejects WAVE_FORMAT_EXTENSIBLE, which many recorders and sox write for plain 16-bit
PCM. Writing uses the stdlib `wave`. No soundfile/libsndfile dependency. Every problem with a
file is an `AudioError` whose one-line message names the file: not RIFF/WAVE, float or 8/24/32
-bit samples, more than one channel, no or a truncated data chunk, zero samples.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np

from ml.errors import KwsError
from ml.fsutil import atomic_open


class AudioError(KwsError):
    """A wav file is unreadable, corrupt or not 16-bit mono PCM."""


WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# KSDATAFORMAT_SUBTYPE_*: the format code, then this fixed GUID tail
_SUBFORMAT_TAIL = bytes.fromhex("000000001000800000aa00389b71")
_FORMAT_NAMES = {WAVE_FORMAT_IEEE_FLOAT: "float", 0x0006: "A-law", 0x0007: "mu-law"}


def _chunks(data: bytes) -> dict[bytes, tuple[int, int]]:
    """id -> (offset, declared size) of the first chunk of each id after the RIFF header."""
    found: dict[bytes, tuple[int, int]] = {}
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        found.setdefault(cid, (pos + 8, size))
        pos += 8 + size + (size & 1)
    return found


def _parse_fmt(path: Path, data: bytes, off: int, size: int) -> tuple[int, int, int, int]:
    """(format code, channels, rate, bits) from the fmt chunk, EXTENSIBLE resolved."""
    if size < 16 or off + 16 > len(data):
        raise AudioError(f"{path}: unreadable wav (fmt chunk too short)")
    code, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, off)
    if code == WAVE_FORMAT_EXTENSIBLE:
        if size < 40 or off + 40 > len(data):
            raise AudioError(f"{path}: unreadable wav (WAVE_FORMAT_EXTENSIBLE fmt chunk too short)")
        sub = data[off + 24 : off + 40]
        if sub[2:] != _SUBFORMAT_TAIL:
            raise AudioError(f"{path}: unsupported WAVE_FORMAT_EXTENSIBLE sub-format, expected PCM")
        code = struct.unpack_from("<H", sub)[0]
    return code, channels, rate, bits


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Return (int16 mono samples, sample rate) of a 16-bit PCM mono wav file.

    Plain PCM and WAVE_FORMAT_EXTENSIBLE with the PCM sub-format are read; anything else,
    and a file without samples, is an AudioError naming the file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AudioError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise AudioError(f"{path}: is a directory, not a wav file") from None
    except OSError as exc:
        raise AudioError(f"{path}: unreadable wav ({exc.strerror or exc})") from None
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError(f"{path}: unreadable wav (not a RIFF/WAVE file)")
    chunks = _chunks(data)
    if b"fmt " not in chunks:
        raise AudioError(f"{path}: unreadable wav (no fmt chunk)")
    code, channels, rate, bits = _parse_fmt(path, data, *chunks[b"fmt "])
    if code != WAVE_FORMAT_PCM:
        kind = _FORMAT_NAMES.get(code, f"format code 0x{code:04x}")
        raise AudioError(f"{path}: {bits}-bit {kind} samples, expected 16-bit PCM")
    if channels != 1:
        raise AudioError(f"{path}: {channels} channels, expected mono")
    if bits != 16:
        raise AudioError(f"{path}: {bits}-bit samples, expected 16-bit")
    if rate <= 0:
        raise AudioError(f"{path}: sample rate {rate} Hz")
    if b"data" not in chunks:
        raise AudioError(f"{path}: unreadable wav (no data chunk)")
    off, size = chunks[b"data"]
    n_frames = size // 2
    raw = data[off : off + 2 * n_frames]
    if len(raw) != 2 * n_frames:
        raise AudioError(f"{path}: truncated wav ({len(raw) // 2} of {n_frames} samples present)")
    if n_frames == 0:
        raise AudioError(f"{path}: no samples (0 frames)")
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
