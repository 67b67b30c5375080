"""DVC stage `features`: dataset -> int8 front-end features per split.

    python -m ml.features --data DIR --out build/features [--params params.yaml]

Writes `<out>/{train,validation,test}.npz` with `x` int8 (N, frames, channels), `y` int64
(index in dataset.labels) and `names` (relative wav path, `silence` or `<path>#aug<k>`),
nothing else (no cache key: DVC decides when the stage reruns). Example selection follows
TensorFlow speech_commands' input_data: per split, `_silence_` examples
(dataset.silence_percentage of the keyword examples) are cut from `_background_noise_` at a
random volume, and `_unknown_` examples are a seeded sample capped at
dataset.unknown_percentage of the keyword examples (dataset.train_unknown_percentage in the
training split: more non-keywords to learn from, while validation and test keep the
composition their figures are compared by). The training split also gets
`features.augment_copies` augmented copies of every example (random time shift, and with
probability background_frequency background noise at a random SNR). With probability
features.warmup_probability a copy is featurized after `warmup_ms` of preceding audio (the
same background at the same gain, and with probability warmup_speech_probability the tail
of another clip of the split, `warmup_gap_ms` before it), and only the clip's own frames are
kept: a listening board's front-end has heard the audio before a word, a fresh one has not
(README, "Streaming"). Everything random comes from features.seed and the split, so a run is
reproducible.
"""

from __future__ import annotations

import argparse
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ml.audio import read_wav
from ml.dataset import SILENCE, UNKNOWN, Clip, background_files, list_clips
from ml.errors import run_main
from ml.frontend import compute_features_batch, num_frames
from ml.fsutil import atomic_open
from ml.params import DEFAULT_PARAMS, load_params
from ml.progress import progress
from ml.splits import FeaturesError

log = logging.getLogger(__name__)

# dataset split name -> npz file stem (docs/contracts.md)
SPLIT_FILES = {"training": "train", "validation": "validation", "testing": "test"}
CHUNK = 512  # examples rendered and featurized at a time (bounds memory)
FORMAT_VERSION = 1  # bump when the npz layout or the example recipe changes


@dataclass(frozen=True)
class Example:
    """One model example: a clip (or silence), and how to augment it."""

    name: str
    label: int
    path: Path | None  # None for silence
    shift: int = 0  # samples; >0 delays the audio, <0 advances it
    noise: int = -1  # background index, -1 for none
    noise_offset: int = 0
    noise_gain: float = 0.0  # linear gain on the background excerpt (float in [-1, 1])
    snr_db: float | None = None  # mix at this SNR instead of noise_gain (clips only)
    warmup: int = 0  # samples of audio the front-end hears before the example (0: fresh state)
    warmup_offset: int = 0  # offset of the background excerpt under the warm-up
    prev: Path | None = None  # a clip whose tail ends `gap` samples before the example
    gap: int = 0


def clip_samples(params: dict[str, Any]) -> int:
    ds = params["dataset"]
    return ds["sample_rate"] * ds["clip_duration_ms"] // 1000


def warmup_samples(params: dict[str, Any]) -> int:
    """Samples of audio a warmed-up training copy is featurized over before its clip."""
    return params["dataset"]["sample_rate"] * params["features"]["warmup_ms"] // 1000


def load_backgrounds(root: Path, sample_rate: int, min_samples: int) -> list[np.ndarray]:
    """Background recordings as float32 in [-1, 1]; each must be at least one clip long."""
    out = []
    for path in background_files(root):
        audio, rate = read_wav(path)
        if rate != sample_rate:
            raise FeaturesError(f"{path}: sample rate {rate} Hz, expected {sample_rate}")
        if len(audio) < min_samples:
            raise FeaturesError(
                f"{path}: {len(audio)} samples, shorter than the {min_samples} that one clip"
                " (and features.warmup_ms before it) needs"
            )
        out.append(audio.astype(np.float32) / 32768.0)
    return out


def select_examples(
    clips: list[Clip], split: str, params: dict[str, Any], n_background: int
) -> list[Example]:
    """Keyword clips, a capped seeded sample of unknowns, and silence (as input_data does)."""
    ds, ft = params["dataset"], params["features"]
    labels = ds["labels"]
    unknown, silence = labels.index(UNKNOWN), labels.index(SILENCE)
    rng = np.random.default_rng([ft["seed"], list(SPLIT_FILES).index(split), 0])
    known = [c for c in clips if c.label != unknown]
    unknowns = [c for c in clips if c.label == unknown]
    cap = ds["train_unknown_percentage"] if split == "training" else ds["unknown_percentage"]
    n_unknown = min(len(unknowns), math.ceil(len(known) * cap / 100))
    picked = sorted(rng.permutation(len(unknowns))[:n_unknown].tolist())
    chosen = known + [unknowns[i] for i in picked]
    chosen.sort(key=lambda c: c.rel)
    out = [Example(c.rel, c.label, c.path) for c in chosen]
    n_silence = math.ceil(len(known) * ds["silence_percentage"] / 100)
    if n_silence and not n_background:
        raise FeaturesError(
            f"{split}: dataset.silence_percentage > 0 but there is no _background_noise_/*.wav"
        )
    for i in range(n_silence):
        # As input_data: a random excerpt of a random recording at a random volume in [0, 1].
        out.append(
            Example(
                "silence",
                silence,
                None,
                noise=int(rng.integers(n_background)),
                noise_offset=int(rng.integers(2**31)),  # reduced modulo the length later
                noise_gain=float(rng.uniform(0.0, 1.0)) if i % 10 else 0.0,  # some all-zero
            )
        )
    return out


def augment(
    examples: list[Example], params: dict[str, Any], split: str, n_background: int
) -> list[Example]:
    """The clean examples plus `augment_copies` randomly shifted/noised copies of each."""
    ft = params["features"]
    if split != "training" or not ft["augment"] or not ft["augment_copies"]:
        return examples
    rng = np.random.default_rng([ft["seed"], list(SPLIT_FILES).index(split), 1])
    max_shift = params["dataset"]["sample_rate"] * ft["time_shift_ms"] // 1000
    out = list(examples)
    warm = _Warmup(params, split, [ex.path for ex in examples if ex.path is not None])
    for k in range(1, ft["augment_copies"] + 1):
        for ex in examples:
            shift = int(rng.integers(-max_shift, max_shift + 1)) if max_shift else 0
            noisy = n_background > 0 and rng.uniform() < ft["background_frequency"]
            noise = int(rng.integers(n_background)) if noisy else -1
            offset = int(rng.integers(2**31)) if noisy else 0
            snr = float(rng.uniform(ft["snr_db_min"], ft["snr_db_max"])) if noisy else None
            if ex.path is None:  # silence: a different excerpt and volume
                aug = Example(
                    f"silence#aug{k}",
                    ex.label,
                    None,
                    noise=int(rng.integers(n_background)),
                    noise_offset=int(rng.integers(2**31)),
                    noise_gain=float(rng.uniform(0.0, 1.0)),
                )
            else:
                aug = Example(
                    f"{ex.name}#aug{k}", ex.label, ex.path, shift, noise, offset, 0.0, snr
                )
            out.append(warm.maybe(aug))
    return out


class _Warmup:
    """Draws the warm-up of augmented copies (its own random stream: turning it off leaves
    every other draw, and so the other examples, unchanged)."""

    def __init__(self, params: dict[str, Any], split: str, pool: list[Path]) -> None:
        ft, rate = params["features"], params["dataset"]["sample_rate"]
        self.rng = np.random.default_rng([ft["seed"], list(SPLIT_FILES).index(split), 2])
        self.samples = warmup_samples(params)
        self.probability = ft["warmup_probability"] if self.samples else 0.0
        self.speech = ft["warmup_speech_probability"]
        self.gap_ms = ft["warmup_gap_ms"]
        self.rate = rate
        self.pool = pool

    def maybe(self, ex: Example) -> Example:
        if not self.probability or self.rng.uniform() >= self.probability:
            return ex
        prev, gap = None, 0
        if self.pool and self.rng.uniform() < self.speech:
            prev = self.pool[int(self.rng.integers(len(self.pool)))]
            gap = int(self.rng.integers(self.gap_ms[0], self.gap_ms[1] + 1)) * self.rate // 1000
        offset = int(self.rng.integers(2**31))
        return replace(ex, warmup=self.samples, warmup_offset=offset, prev=prev, gap=gap)


def _excerpt(bg: np.ndarray, offset: int, n: int) -> np.ndarray:
    start = offset % (len(bg) - n + 1)
    return bg[start : start + n]


def render(
    ex: Example, params: dict[str, Any], backgrounds: list[np.ndarray], samples: int
) -> np.ndarray:
    """The int16 audio of one example: its warm-up (if any), then exactly one clip."""
    audio, gain = _clip_audio(ex, params, backgrounds, samples)
    if ex.warmup:
        audio = np.concatenate([_warmup_audio(ex, params, backgrounds, gain), audio])
    return np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)


def _clip_audio(
    ex: Example, params: dict[str, Any], backgrounds: list[np.ndarray], samples: int
) -> tuple[np.ndarray, float]:
    """One clip of float audio, and the gain its background excerpt was mixed at."""
    rate = params["dataset"]["sample_rate"]
    if ex.path is None:
        if ex.noise >= 0 and ex.noise_gain > 0:
            excerpt = _excerpt(backgrounds[ex.noise], ex.noise_offset, samples)
            return ex.noise_gain * excerpt, ex.noise_gain
        return np.zeros(samples, dtype=np.float32), 0.0
    audio = np.zeros(samples, dtype=np.float32)
    raw = _read_clip(ex.path, rate)
    if len(raw) > samples:
        raise FeaturesError(f"{ex.path}: {len(raw)} samples is longer than one clip ({samples})")
    audio[: len(raw)] = raw
    if ex.shift:
        audio = np.roll(audio, ex.shift)
        if ex.shift > 0:
            audio[: ex.shift] = 0.0
        else:
            audio[ex.shift :] = 0.0
    gain = 0.0
    if ex.noise >= 0 and ex.snr_db is not None:
        noise = _excerpt(backgrounds[ex.noise], ex.noise_offset, samples)
        sig_rms = float(np.sqrt(np.mean(audio**2)))
        noise_rms = float(np.sqrt(np.mean(noise**2))) or 1.0
        gain = sig_rms / noise_rms / (10.0 ** (ex.snr_db / 20.0))
        gain = min(gain, params["features"]["background_volume"])
        audio = audio + gain * noise
    return audio, gain


def _warmup_audio(
    ex: Example, params: dict[str, Any], backgrounds: list[np.ndarray], gain: float
) -> np.ndarray:
    """What the front-end hears before the example: the example's background at its gain,
    and the tail of `ex.prev` ending `ex.gap` samples before the example starts."""
    pre = np.zeros(ex.warmup, dtype=np.float32)
    if ex.noise >= 0 and gain > 0:
        pre += gain * _excerpt(backgrounds[ex.noise], ex.warmup_offset, ex.warmup)
    end = ex.warmup - ex.gap
    if ex.prev is not None and end > 0:
        tail = _read_clip(ex.prev, params["dataset"]["sample_rate"])[-end:]
        pre[end - len(tail) : end] += tail
    return pre


def _read_clip(path: Path, rate: int) -> np.ndarray:
    raw, sr = read_wav(path)
    if sr != rate:
        raise FeaturesError(f"{path}: sample rate {sr} Hz, expected {rate}")
    return raw.astype(np.float32) / 32768.0


def featurize(
    examples: list[Example],
    params: dict[str, Any],
    backgrounds: list[np.ndarray],
    desc: str,
) -> np.ndarray:
    """int8 features of every example, rendered and featurized in chunks."""
    samples = clip_samples(params)
    fe, rate = params["frontend"], params["dataset"]["sample_rate"]
    parts = []
    with progress(total=len(examples), desc=desc, unit="clip", leave=False) as bar:
        for start in range(0, len(examples), CHUNK):
            audio = [
                render(ex, params, backgrounds, samples) for ex in examples[start : start + CHUNK]
            ]
            parts.append(_featurize_chunk(audio, fe, rate, samples, bar.update))
    if not parts:
        return np.zeros((0, num_frames(samples, fe, rate), fe["num_channels"]), np.int8)
    return np.concatenate(parts)


def _featurize_chunk(
    audio: list[np.ndarray], fe: dict[str, Any], rate: int, samples: int, update: Any
) -> np.ndarray:
    """Features of one chunk; a warmed-up example keeps only its clip's last frames (the
    warm-up is a whole number of strides: params.py checks it, so the frames line up)."""
    lengths = sorted({len(a) for a in audio})
    frames = num_frames(samples, fe, rate)
    out = np.empty((len(audio), frames, fe["num_channels"]), np.int8)
    for length in lengths:
        idx = [i for i, a in enumerate(audio) if len(a) == length]
        x = compute_features_batch([audio[i] for i in idx], fe, rate, length, progress=update)
        out[idx] = x[:, -frames:, :]
    return out


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write an npz atomically (temp file + rename), so a crash leaves no half file."""
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def build_split(
    split: str,
    clips: list[Clip],
    params: dict[str, Any],
    root: Path,
    out: Path,
) -> Path:
    """Featurize one split into `<out>/<file>.npz` (when to rerun is DVC's call)."""
    path = out / f"{SPLIT_FILES[split]}.npz"
    rate = params["dataset"]["sample_rate"]
    warmup = warmup_samples(params) if split == "training" else 0
    backgrounds = load_backgrounds(root, rate, clip_samples(params) + warmup)
    examples = select_examples(clips, split, params, len(backgrounds))
    examples = augment(examples, params, split, len(backgrounds))
    x = featurize(examples, params, backgrounds, desc=f"features {split}")
    y = np.array([ex.label for ex in examples], dtype=np.int64)
    names = np.array([ex.name for ex in examples], dtype=np.str_)
    save_npz(path, x=x, y=y, names=names)
    counts = np.bincount(y, minlength=len(params["dataset"]["labels"])).tolist()
    log.info("%s: %d examples %s -> %s (per label %s)", split, len(y), x.shape, path, counts)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.features", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="dataset root")
    ap.add_argument("--out", type=Path, required=True, help="output directory for the npz files")
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    by_split = list_clips(args.data, params)
    for split in SPLIT_FILES:
        if not by_split[split]:
            raise FeaturesError(f"{args.data}: the {split} split has no clips")
        build_split(split, by_split[split], params, args.data, args.out)
    return 0


if __name__ == "__main__":
    run_main(main)
