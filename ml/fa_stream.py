"""The false-accept stream of the evaluate stage: evaluate.stream_minutes of non-keyword speech
of held-out speakers strung together with gaps over the background noise, featurized as the
device does (one front-end state over the whole stream), with an inference every
evaluate.stream_hop_ms through the recognizer (ml/recognizer.py, the firmware's logic)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml import tflm
from ml.audio import read_wav
from ml.dataset import UNKNOWN, background_files, list_clips
from ml.errors import KwsError
from ml.params import frames_per_clip
from ml.progress import progress
from ml.recognizer import RecognizeCommands

log = logging.getLogger(__name__)


class StreamError(KwsError):
    """The dataset cannot make a false-accept stream (no non-keyword clips, wrong rate)."""


def _unknown_clips(root: Path, params: dict[str, Any]) -> list[Path]:
    """Non-keyword clips of held-out speakers (test + validation; all splits if none)."""
    by_split = list_clips(root, params)
    unknown = params["dataset"]["labels"].index(UNKNOWN)
    held_out = [
        c.path for s in ("testing", "validation") for c in by_split[s] if c.label == unknown
    ]
    if held_out:
        return held_out
    return [c.path for clips in by_split.values() for c in clips if c.label == unknown]


@dataclass(frozen=True)
class Placed:
    """A clip laid into a stream: its first sample, its length in samples, its label index."""

    start: int
    length: int
    label: int


def compose(
    clips: list[tuple[Path, int]], root: Path, params: dict[str, Any], seed: int
) -> tuple[np.ndarray, list[Placed]]:
    """evaluate.stream_minutes of `clips` (path, label) drawn at random and strung together
    with gaps, over the dataset's background noise: the stream (int16) and where each clip
    went."""
    ev, ds = params["evaluate"], params["dataset"]
    sr = ds["sample_rate"]
    total = int(ev["stream_minutes"] * 60 * sr)
    rng = np.random.default_rng(seed)
    cache: dict[int, np.ndarray] = {}
    speech = np.zeros(total, dtype=np.float32)
    placed: list[Placed] = []
    pos = 0
    while True:
        pos += int(rng.integers(ev["stream_gap_ms_min"], ev["stream_gap_ms_max"] + 1)) * sr // 1000
        i = int(rng.integers(len(clips)))
        if i not in cache:
            audio, rate = read_wav(clips[i][0])
            if rate != sr:
                raise StreamError(f"{clips[i][0]}: sample rate {rate} Hz, expected {sr}")
            cache[i] = audio.astype(np.float32) / 32768.0
        clip = cache[i]
        if pos + len(clip) > total:
            break
        speech[pos : pos + len(clip)] += clip
        placed.append(Placed(pos, len(clip), clips[i][1]))
        pos += len(clip)
    noise_files = background_files(root)
    if noise_files and ev["stream_noise_volume"] > 0:
        noise = np.concatenate([read_wav(p)[0].astype(np.float32) / 32768.0 for p in noise_files])
        if len(noise):
            start = int(rng.integers(len(noise)))
            idx = (start + np.arange(total)) % len(noise)
            speech += noise[idx] * float(ev["stream_noise_volume"])
    return np.clip(np.round(speech * 32768.0), -32768, 32767).astype(np.int16), placed


def make_stream(root: Path, params: dict[str, Any]) -> np.ndarray:
    """evaluate.stream_minutes of non-keyword words with gaps, over background noise (int16)."""
    clips = _unknown_clips(root, params)
    if not clips:
        raise StreamError(f"{root}: no non-keyword (_unknown_) clips for the streaming test")
    unknown = params["dataset"]["labels"].index(UNKNOWN)
    return compose([(c, unknown) for c in clips], root, params, params["evaluate"]["seed"])[0]


def stream_windows(features: np.ndarray, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(time_ms, frame index of the window's last slice) of every stream_hop_ms inference."""
    fe = params["frontend"]
    frames = frames_per_clip(params)
    hop, stride, window = (
        params["evaluate"]["stream_hop_ms"],
        fe["window_stride_ms"],
        fe["window_size_ms"],
    )
    times, ends = [], []
    t = hop
    while True:
        last = (t - window) // stride  # newest complete slice at time t
        if last >= len(features):
            break
        if last >= frames - 1:
            times.append(t)
            ends.append(last)
        t += hop
    return np.array(times, dtype=np.int64), np.array(ends, dtype=np.int64)


def stream_scores(
    model_bytes: bytes, audio: np.ndarray, params: dict[str, Any], desc: str = "stream"
) -> tuple[np.ndarray, np.ndarray]:
    """(time_ms, int8 scores) of an inference every evaluate.stream_hop_ms over `audio`,
    featurized as the device does (one front-end state over the whole stream)."""
    from ml.frontend import stream_features

    feats = stream_features(audio, params["frontend"], params["dataset"]["sample_rate"])
    times, ends = stream_windows(feats, params)
    frames = frames_per_clip(params)
    # Optimized kernels for speed here; bit-exactness is checked on the test split.
    run = tflm.TfliteRunner(model_bytes, reference=False)
    outputs = [
        np.asarray(run(feats[None, end - frames + 1 : end + 1])[0]).reshape(-1)
        for end in progress(ends, total=len(ends), desc=desc, unit="inf", leave=False)
    ]
    n_labels = len(params["dataset"]["labels"])
    return times, np.asarray(outputs, np.int8).reshape(len(outputs), n_labels)


def detections(
    times: np.ndarray, scores: np.ndarray, labels: list[str], recognizer: dict[str, Any]
) -> list[tuple[int, str]]:
    """(time_ms, label) of every detection the recognizer makes over a stream's scores."""
    rec = RecognizeCommands(labels, recognizer)
    found = []
    for t, row in zip(times, scores, strict=True):
        d = rec.process(row, int(t))
        if d.is_new_command:
            found.append((int(t), str(d.label)))
    return found


def false_accepts(model_bytes: bytes, root: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Recognizer detections over the generated non-keyword stream."""
    ds = params["dataset"]
    audio = make_stream(root, params)
    times, scores = stream_scores(model_bytes, audio, params)
    detected: dict[str, int] = {}
    for _, label in detections(times, scores, ds["labels"], params["recognizer"]):
        detected[label] = detected.get(label, 0) + 1
    hours = len(audio) / ds["sample_rate"] / 3600.0
    count = sum(detected.values())
    log.info(
        "stream: %.1f min, %d inferences, %d false accepts %s",
        hours * 60,
        len(times),
        count,
        detected,
    )
    return {
        "false_accepts": count,
        "false_accepts_per_hour": round(count / hours, 3),
        "stream_minutes": round(hours * 60, 3),
        "stream_inferences": len(times),
        "stream_scores": scores,
    }
