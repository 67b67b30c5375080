"""The speaker plan: who speaks which words, and each utterance's random choices.

A speaker is an engine, a voice drawn from that engine's settings and a vocal-tract warp;
its id is `<engine>-<8 hex>`, so the engine of every clip is in its file name
(`<word>/<engine>-<hash>_nohash_<n>.wav`) and the split-by-speaker-hash rule still holds.
Speakers of the engines are interleaved in proportion to their counts, so the first k
speakers are the same whatever the total, and every random choice of a clip comes from
an RNG seeded by (seed, speaker, word, n): a clip does not depend on which worker made it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ml.params import ParamsError
from ml.synth.common import rng_for
from ml.synth.dsp import Room, draw_room
from ml.synth.engines import Prosody, engine


@dataclass(frozen=True)
class Speaker:
    id: str  # "<engine>-<8 hex>", derived from the settings and the seed
    engine: str
    voice: dict[str, Any]  # the engine's settings (voice name, rate, pitch, scales...)
    warp: float  # vocal-tract length: every frequency x warp


@dataclass(frozen=True)
class Utterance:
    """One clip to make; picklable, carries everything a worker needs."""

    rel: str
    text: str
    speaker: Speaker
    n: int
    seed: int
    sample_rate: int
    clip_samples: int
    synth: dict[str, Any]


@dataclass(frozen=True)
class Style:
    """An utterance's random choices, drawn in a fixed order from the clip's own RNG."""

    prosody: Prosody
    warp: float
    peak_db: float
    onset_frac: float  # where the word starts within the free room of the clip
    room: Room | None  # None: close-talking, no room
    highpass_hz: float
    lowpass_hz: float
    eq: tuple[float, float, float]  # mic resonance: centre Hz, gain dB, Q
    snr_db: float
    noise_exponent: float  # 0 white .. 2 brown


def engine_counts(sp: dict[str, Any]) -> dict[str, int]:
    """Speakers per engine, engines with 0 left out, in params order."""
    return {name: n for name, n in sp["engines"].items() if n > 0}


def scale_engines(engines: dict[str, int], total: int) -> dict[str, int]:
    """`engines` rescaled to `total` speakers (largest remainder, each used engine >= 1)."""
    used = {k: v for k, v in engines.items() if v > 0}
    if total < len(used):
        raise ParamsError(f"{total} speakers cannot cover {len(used)} engines")
    s = sum(used.values())
    exact = {k: total * v / s for k, v in used.items()}
    out = {k: max(1, int(x)) for k, x in exact.items()}
    for k in sorted(used, key=lambda k: (out[k] - exact[k], list(used).index(k))):
        if sum(out.values()) >= total:
            break
        out[k] += 1
    while sum(out.values()) > total:
        k = max(out, key=lambda k: (out[k], -list(used).index(k)))
        out[k] -= 1
    return {k: out.get(k, 0) for k in engines}


def total_speakers(sp: dict[str, Any]) -> int:
    return sum(engine_counts(sp).values())


def _engine_speakers(name: str, count: int, seed: int, sp: dict[str, Any]) -> list[Speaker]:
    rng = rng_for(seed, name, "speakers")
    lo, hi = sp["speaker"]["warp"]
    out: list[Speaker] = []
    seen: set[str] = set()
    for _ in range(count * 50):
        if len(out) == count:
            break
        voice = engine(name).draw(rng, sp[name])
        warp = round(float(rng.uniform(lo, hi)), 3)
        blob = json.dumps([seed, name, voice, warp], sort_keys=True)
        sid = f"{name}-{hashlib.sha1(blob.encode()).hexdigest()[:8]}"
        if sid not in seen:
            seen.add(sid)
            out.append(Speaker(sid, name, voice, warp))
    if len(out) < count:
        raise ParamsError(f"synth.engines.{name} = {count} exceeds its distinct voice settings")
    return out


def make_speakers(count: int, seed: int, sp: dict[str, Any]) -> list[Speaker]:
    """The first `count` speakers: engines interleaved in proportion to their counts."""
    counts = engine_counts(sp)
    total = sum(counts.values())
    if count > total:
        raise ParamsError(f"{count} speakers exceed the {total} of synth.engines")
    pools = {name: _engine_speakers(name, n, seed, sp) for name, n in counts.items()}
    taken = dict.fromkeys(counts, 0)
    out = []
    for _ in range(count):
        # smooth weighted round robin: the engine furthest behind its share goes next
        name = min(counts, key=lambda e: ((taken[e] + 1) / counts[e], list(counts).index(e)))
        out.append(pools[name][taken[name]])
        taken[name] += 1
    return out


def plan(params: dict[str, Any], speakers: int, seed: int) -> list[Utterance]:
    """Every clip of the dataset, in a fixed order."""
    ds, sp = params["dataset"], params["synth"]
    sr = ds["sample_rate"]
    clip_samples = sr * ds["clip_duration_ms"] // 1000
    out: list[Utterance] = []
    for spk in make_speakers(speakers, seed, sp):
        rng = rng_for(seed, spk.id, "unknown-words")
        k = min(sp["unknown_words_per_speaker"], len(sp["unknown_words"]))
        unknown = sorted(rng.choice(sp["unknown_words"], size=k, replace=False).tolist())
        words = [(w, r) for w in ds["keywords"] for r in range(sp["repeats"])]
        words += [(w, 0) for w in unknown]
        for word, n in words:
            rel = f"{word}/{spk.id}_nohash_{n}.wav"
            out.append(Utterance(rel, word, spk, n, seed, sr, clip_samples, sp))
    return out


def room_bank(seed: int, sp: dict[str, Any]) -> list[Room]:
    """The seed's rooms: utterances pick one (impulse responses are cached per worker)."""
    rm = sp["room"]
    return [
        draw_room(
            rng_for(seed, "room", k),
            width=rm["width_m"],
            depth=rm["depth_m"],
            height=rm["height_m"],
            rt60=rm["rt60_s"],
            distance=rm["distance_m"],
        )
        for k in range(rm["rooms"])
    ]


def style_for(u: Utterance, rooms: list[Room]) -> tuple[Style, np.random.Generator]:
    sp, vo, rm, mic = u.synth, u.synth["speaker"], u.synth["room"], u.synth["mic"]
    rng = rng_for(u.seed, u.speaker.id, u.text, u.n)
    rate = 1 + rng.uniform(-vo["rate_jitter"], vo["rate_jitter"])
    pitch = int(rng.integers(-vo["pitch_jitter"], vo["pitch_jitter"] + 1))
    warp = u.speaker.warp * (1 + rng.uniform(-vo["warp_jitter"], vo["warp_jitter"]))
    peak_db = float(rng.uniform(sp["peak_dbfs_min"], sp["peak_dbfs_max"]))
    onset = float(rng.uniform(0.0, 1.0))
    in_room = rng.uniform() < rm["probability"]
    room_index = int(rng.integers(len(rooms)))
    log_hp = rng.uniform(*np.log(mic["highpass_hz"]))
    log_lp = rng.uniform(*np.log(mic["lowpass_hz"]))
    eq = (
        float(np.exp(rng.uniform(np.log(300.0), np.log(5000.0)))),
        float(rng.uniform(-mic["eq_db"], mic["eq_db"])),
        float(rng.uniform(0.7, 2.5)),
    )
    style = Style(
        prosody=Prosody(rate=round(float(rate), 3), pitch_pct=pitch),
        warp=round(float(warp), 3),
        peak_db=peak_db,
        onset_frac=onset,
        room=rooms[room_index] if in_room else None,
        highpass_hz=float(np.exp(log_hp)),
        lowpass_hz=float(np.exp(log_lp)),
        eq=eq,
        snr_db=float(rng.uniform(sp["snr_db_min"], sp["snr_db_max"])),
        noise_exponent=float(rng.uniform(0.0, 2.0)),
    )
    return style, rng
