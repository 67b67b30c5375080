"""Offline Speech Commands v2 look-alike, spoken by several speech engines in simulated rooms.

    python -m ml.synth --out DIR [--speakers N] [--seed S] [--params params.yaml]

Engines (`engines.py`, one adapter each behind one interface): espeak-ng, flite, Festival
and Piper, all offline; `synth.engines` in params.yaml says how many speakers each gives.
A speaker (`speakers.py`) is an engine voice with its own knobs and a vocal-tract warp; each
utterance gets its own tempo and pitch change, warp jitter, onset, level, room impulse
response (pyroomacoustics, several sizes, reverberation times and talker distances),
microphone band limits and resonance, and coloured noise at a random SNR (`dsp.py`). Clips
are `<word>/<engine>-<hash>_nohash_<n>.wav` (16 kHz mono int16, exactly one clip long), so
the engine of every clip is recoverable and the split-by-speaker-hash rule holds; the split
lists follow TensorFlow's `which_set`, and `_background_noise_/` holds noise colours and
mains hum for `_silence_`. Everything random comes from RNGs seeded by (seed, speaker, word,
n) and the rooms by (seed, k): the same seed gives byte-identical files whichever worker
renders what (`generate.py`).
"""

from ml.synth.checks import HOMOPHONES, check_engines, check_synth_params
from ml.synth.common import GENERATOR_VERSION, INFO_FILE, SynthError, rng_for
from ml.synth.engines import ENGINES, Prosody, engine
from ml.synth.generate import BACKGROUNDS, check_generated, describe, synthesize
from ml.synth.speakers import (
    Speaker,
    Utterance,
    engine_counts,
    make_speakers,
    plan,
    scale_engines,
    total_speakers,
)

__all__ = [
    "BACKGROUNDS",
    "ENGINES",
    "GENERATOR_VERSION",
    "HOMOPHONES",
    "INFO_FILE",
    "Prosody",
    "Speaker",
    "SynthError",
    "Utterance",
    "check_engines",
    "check_generated",
    "check_synth_params",
    "describe",
    "engine",
    "engine_counts",
    "make_speakers",
    "plan",
    "rng_for",
    "scale_engines",
    "synthesize",
    "total_speakers",
]
