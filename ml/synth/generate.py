"""Render the planned clips in parallel and write the dataset tree atomically."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ml.audio import write_wav
from ml.dataset import BACKGROUND_DIR, LIST_FILES, which_set
from ml.fsutil import replace_dir
from ml.synth import dsp
from ml.synth.checks import check_engines, check_synth_params
from ml.synth.common import GENERATOR_VERSION, INFO_FILE, SynthError, rng_for, to_int16
from ml.synth.engines import Prosody, engine
from ml.synth.mix import mix_real
from ml.synth.speakers import (
    Style,
    Utterance,
    engine_counts,
    make_speakers,
    plan,
    room_bank,
    style_for,
)

log = logging.getLogger(__name__)
# numpy's run-time SIMD targets (numpy 2.4 names, then older ones); unknown names are ignored.
NUMPY_SIMD_OFF = (
    "X86_V3 X86_V4 AVX512_ICL AVX512_SPR AVX512_SKX AVX512_CLX AVX512_CNL AVX512F AVX512CD "
    "AVX2 FMA3 F16C AVX"
)
BACKGROUNDS = ("white_noise", "pink_noise", "brown_noise", "hum_50hz", "hum_60hz")


def fit(raw: np.ndarray, rate: int, u: Utterance, st: Style) -> np.ndarray:
    """The word at the dataset rate, trimmed and warped; a word too long for the clip is
    re-spoken faster (deterministically), and as a last resort cut with a fade-out."""
    sp, sr = u.synth, u.sample_rate
    max_len = min(u.clip_samples, sr * sp["max_word_ms"] // 1000)
    word = dsp.warp(dsp.trim(dsp.resample(raw, rate, sr), sr), st.warp)
    prosody = st.prosody
    for _ in range(3):
        if len(word) <= max_len:
            break
        prosody = replace(prosody, rate=round(prosody.rate * 1.25, 3))
        ((raw, rate),) = engine(u.speaker.engine).speak(u.speaker.voice, [(u.text, prosody)])
        word = dsp.warp(dsp.trim(dsp.resample(raw, rate, sr), sr), st.warp)
    if len(word) == 0 or np.max(np.abs(word)) == 0:
        raise SynthError(f"{u.speaker.engine} {u.speaker.voice['voice']}: silent {u.text!r}")
    if len(word) > max_len:
        word = word[:max_len].copy()
        fade = min(len(word), sr // 50)
        word[-fade:] *= np.linspace(1.0, 0.0, fade)
    return word


def place(word: np.ndarray, u: Utterance, st: Style, rng: np.random.Generator) -> np.ndarray:
    """The finished clip: the word at its onset, through the room and the microphone, at
    its level, over coloured noise at its SNR."""
    sr, n = u.sample_rate, u.clip_samples
    onset = int(st.onset_frac * (n - len(word) + 1))
    clip = np.zeros(n)
    clip[onset : onset + len(word)] = word
    if st.room is not None:
        clip = dsp.reverberate(clip, dsp.room_response(st.room, sr, u.synth["room"]["max_order"]))
    clip = dsp.microphone(clip, sr, st.highpass_hz, st.lowpass_hz, st.eq)
    clip *= 10 ** (st.peak_db / 20) / (np.max(np.abs(clip)) or 1.0)
    level = dsp.rms(clip[onset : onset + len(word)]) * 10 ** (-st.snr_db / 20)
    clip += dsp.colored_noise(rng, n, sr, st.noise_exponent) * level
    return to_int16(clip)


def render_speaker(utts: list[Utterance]) -> list[np.ndarray]:
    """Every clip of one speaker, in order (one engine call for all of them)."""
    rooms = room_bank(utts[0].seed, utts[0].synth)
    styled = [style_for(u, rooms) for u in utts]
    spk = utts[0].speaker
    raws = engine(spk.engine).speak(
        spk.voice, [(u.text, st.prosody) for u, (st, _) in zip(utts, styled, strict=True)]
    )
    return [
        place(fit(raw, rate, u, st), u, st, rng)
        for (raw, rate), u, (st, rng) in zip(raws, utts, styled, strict=True)
    ]


def background(name: str, seconds: int, sr: int, seed: int, rms_dbfs: float) -> np.ndarray:
    rng = rng_for(seed, "background", name)
    n = seconds * sr
    if name.startswith("hum_"):
        mains = int(name[4:6])
        t = np.arange(n) / sr
        # mains hum: fundamental + decaying harmonics, a slow wobble, a faint noise floor
        wobble = 1 + 0.002 * np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * t)
        y = sum(
            (rng.uniform(0.5, 1.0) / k)
            * np.sin(2 * np.pi * mains * k * wobble * t + rng.uniform(0, 2 * np.pi))
            for k in range(1, 9)
        )
        y = y / np.sqrt(np.mean(y**2)) + 0.05 * dsp.colored_noise(rng, n, sr, 1.0)
    else:
        exponent = {"white_noise": 0.0, "pink_noise": 1.0, "brown_noise": 2.0}[name]
        y = dsp.colored_noise(rng, n, sr, exponent)
    y = y / np.sqrt(np.mean(y**2)) * 10 ** (rms_dbfs / 20)
    return to_int16(y)


# (dataset root, a speaker's utterances or a background name, background settings)
Task = tuple[Path, "list[Utterance] | str", "tuple[int, int, int, float] | None"]


def _work(task: Task) -> int:
    root, what, bg = task
    if isinstance(what, str):
        assert bg is not None
        seconds, sr, seed, rms_dbfs = bg
        audio = background(what, seconds, sr, seed, rms_dbfs)
        write_wav(root / BACKGROUND_DIR / f"{what}.wav", audio, sr)
        return 0
    for u, audio in zip(what, render_speaker(what), strict=True):
        write_wav(root / u.rel, audio, u.sample_rate)
    return len(what)


@contextmanager
def _portable_numpy() -> Iterator[None]:
    """Spawned workers import numpy without its CPU-specific SIMD kernels.

    numpy picks AVX2/AVX-512 kernels (SVML) at run time for exp, pow, sin...; they round
    differently from the baseline kernels, so the same seed would give different bytes
    (and a different data.dvc hash) on machines with different CPUs.
    """
    key = "NPY_DISABLE_CPU_FEATURES"
    old = os.environ.get(key)
    os.environ[key] = NUMPY_SIMD_OFF
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def synthesize(
    out: Path,
    params: dict[str, Any],
    *,
    speakers: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Build the dataset in `out` (replaced atomically); return what synth_info.json holds."""
    from ml.synth.speakers import total_speakers

    out = Path(out)
    sp, ds = params["synth"], params["dataset"]
    check_synth_params(params, "params")
    if sp["source"] == "real":
        raise SynthError("synth.source is real: `make data` downloads it; nothing to generate")
    speakers = total_speakers(sp) if speakers is None else speakers
    seed = sp["seed"] if seed is None else seed
    check_engines(params)
    utterances = plan(params, speakers, seed)
    tmp = out.parent / f".{out.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        by_speaker: dict[str, list[Utterance]] = {}
        for u in utterances:
            by_speaker.setdefault(u.speaker.id, []).append(u)
        bg = (sp["background_seconds"], ds["sample_rate"], seed, sp["background_rms_dbfs"])
        tasks: list[Task] = [(tmp, name, bg) for name in BACKGROUNDS]
        # slow engines first, so the pool does not end waiting on one late Festival speaker
        order = {"kokoro": 0, "festival": 1, "piper": 2, "flite": 3, "espeak": 4}
        groups = sorted(by_speaker.values(), key=lambda g: order.get(g[0].speaker.engine, 9))
        tasks += [(tmp, utts, None) for utts in groups]
        bar = tqdm(
            total=len(utterances), desc="synth", unit="clip", disable=None if progress else True
        )
        # All numeric work happens in spawned workers: they need nothing from the parent
        # (which may hold TensorFlow), and they import numpy with the environment below.
        with (
            _portable_numpy(),
            multiprocessing.get_context("spawn").Pool(workers or os.cpu_count() or 1) as pool,
        ):
            for done in pool.imap_unordered(_work, tasks):
                bar.update(done)
        bar.close()
        lists: dict[str, list[str]] = {"validation": [], "testing": []}
        for u in utterances:
            split = which_set(u.rel, ds["validation_percentage"], ds["testing_percentage"])
            if split in lists:
                lists[split].append(u.rel)
        for split, rels in lists.items():
            (tmp / LIST_FILES[split]).write_text("".join(f"{r}\n" for r in sorted(rels)))
        if sp["source"] == "mix":
            log.info(
                "mixed %d real clips from %s", mix_real(tmp, Path(sp["real_dir"])), sp["real_dir"]
            )
        info = describe(params, speakers, seed)
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
        replace_dir(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SynthError(f"{out}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info


def recorded_synth(sp: dict[str, Any]) -> dict[str, Any]:
    """synth.* as the bytes depend on it: an engine with no speakers is left out (its count
    and its section), so adding an engine to params.yaml, unused, keeps the dataset's hash."""
    used = engine_counts(sp)
    unused = set(sp["engines"]) - set(used)
    out = {k: v for k, v in sp.items() if k not in ("seed", "source", "real_dir", *unused)}
    return {**out, "engines": used}


def describe(params: dict[str, Any], speakers: int, seed: int) -> dict[str, Any]:
    """What synth_info.json records: everything the generated bytes depend on."""
    ds, sp = params["dataset"], params["synth"]
    spk = make_speakers(speakers, seed, sp)
    mixed = {"real_dir": sp["real_dir"]} if sp["source"] == "mix" else {}
    return {
        **mixed,
        "generator": f"ml.synth/{GENERATOR_VERSION}",
        "engines": {name: engine(name).version() for name in engine_counts(sp)},
        "seed": seed,
        "speakers": [asdict(s) for s in spk],
        "speakers_per_engine": {e: sum(s.engine == e for s in spk) for e in engine_counts(sp)},
        "clips": len(plan(params, speakers, seed)),
        "synth": recorded_synth(sp),
        "keywords": ds["keywords"],
        "sample_rate": ds["sample_rate"],
        "clip_duration_ms": ds["clip_duration_ms"],
        "validation_percentage": ds["validation_percentage"],
        "testing_percentage": ds["testing_percentage"],
    }


def check_generated(out: Path, params: dict[str, Any], speakers: int, seed: int) -> None:
    """Raise unless `out` was generated with these settings (real data always passes)."""
    info_path = Path(out) / INFO_FILE
    if not Path(out).is_dir():
        raise SynthError(f"{out}: dataset directory not found")
    if params["synth"]["source"] == "real":
        if info_path.is_file():
            raise SynthError(f"{info_path}: generated data, but synth.source is real")
        return
    if not info_path.is_file():
        log.info("%s: no %s (not generated by ml.synth): nothing to compare", out, INFO_FILE)
        return
    try:
        have = json.loads(info_path.read_text())
    except (OSError, ValueError) as exc:
        raise SynthError(f"{info_path}: unreadable ({exc})") from None
    want = json.loads(json.dumps(describe(params, speakers, seed)))
    for key in sorted(set(want) | set(have)):
        if have.get(key) != want.get(key):
            raise SynthError(f"{info_path}: {key} differs from the current params; regenerate")


__all__ = ["Prosody", "check_generated", "synthesize"]
