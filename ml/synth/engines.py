"""Speech engines behind one interface: espeak-ng, flite, Festival, Piper and Kokoro, all
offline.

An engine draws a speaker's voice settings from an RNG (`draw`), speaks a list of texts in
that voice with per-utterance prosody (`speak`, float audio at the engine's own rate), and
says whether it is installed (`check`: a one-line error naming the package to install).
Each adapter batches a speaker's utterances where its start-up dominates the cost.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ml.synth.base import Audio, Engine, Prosody, read_wav_bytes
from ml.synth.common import SynthError, run_tool, short
from ml.synth.dsp import split_on_pauses
from ml.synth.kokoro import Kokoro
from ml.synth.piper import Piper

log = logging.getLogger(__name__)


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


ENGINES: dict[str, type[Engine]] = {e.name: e for e in (Espeak, Flite, Festival, Piper, Kokoro)}


@cache
def engine(name: str) -> Engine:
    if name not in ENGINES:
        raise SynthError(f"unknown speech engine {name!r} (known: {', '.join(ENGINES)})")
    return ENGINES[name]()


def have_program(name: str) -> bool:
    return shutil.which(name) is not None
