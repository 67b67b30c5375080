"""What every speech engine adapter is: a speaker's voice drawn from an RNG, utterances
spoken with per-utterance prosody, an installation check and a version string."""

from __future__ import annotations

import io
import wave
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ml.synth.common import SynthError


@dataclass(frozen=True)
class Prosody:
    """Per-utterance delivery: speaking-rate factor (>1 faster) and pitch change (%)."""

    rate: float
    pitch_pct: int


Audio = tuple[np.ndarray, int]  # float samples in [-1, 1], sample rate


def read_wav_bytes(data: bytes, what: str) -> Audio:
    """Mono 16-bit wav bytes as float; tolerant of the streaming header espeak-ng writes."""
    pos = data.find(b"data", 12)
    if data[:4] != b"RIFF" or pos < 0:
        raise SynthError(f"{what}: no wav output")
    with wave.open(io.BytesIO(data[: pos + 8]), "rb") as w:
        if (w.getnchannels(), w.getsampwidth()) != (1, 2):
            raise SynthError(f"{what}: unexpected output format {w.getparams()}")
        rate = w.getframerate()
    pcm = data[pos + 8 :]
    pcm = pcm[: len(pcm) // 2 * 2]
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0, rate


class Engine(ABC):
    name: ClassVar[str]
    package: ClassVar[str]  # what to install when the engine is missing

    @abstractmethod
    def check(self, cfg: dict[str, Any]) -> None:
        """Raise SynthError (one line, naming the package or voice) unless usable."""

    @abstractmethod
    def draw(self, rng: np.random.Generator, cfg: dict[str, Any]) -> dict[str, Any]:
        """A speaker's engine settings (voice and its knobs), JSON-able."""

    @abstractmethod
    def speak(self, voice: dict[str, Any], items: list[tuple[str, Prosody]]) -> list[Audio]:
        """One recording per item, in order."""

    @abstractmethod
    def version(self) -> str:
        """Version string recorded in synth_info.json."""
