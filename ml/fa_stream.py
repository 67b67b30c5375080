"""The false-accept stream of the evaluate stage: evaluate.stream_minutes of non-keyword speech
of held-out speakers strung together with gaps over the background noise, featurized as the
device does (one front-end state over the whole stream), with an inference every
evaluate.stream_hop_ms through the recognizer (ml/recognizer.py, the firmware's logic)."""

from __future__ import annotations

import logging
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


def make_stream(root: Path, params: dict[str, Any]) -> np.ndarray:
    """evaluate.stream_minutes of non-keyword words with gaps, over background noise (int16)."""
    ev, ds = params["evaluate"], params["dataset"]
    sr = ds["sample_rate"]
    total = int(ev["stream_minutes"] * 60 * sr)
    rng = np.random.default_rng(ev["seed"])
    clips = _unknown_clips(root, params)
    if not clips:
        raise StreamError(f"{root}: no non-keyword (_unknown_) clips for the streaming test")
    cache: dict[int, np.ndarray] = {}
    speech = np.zeros(total, dtype=np.float32)
    pos = 0
    while True:
        pos += int(rng.integers(ev["stream_gap_ms_min"], ev["stream_gap_ms_max"] + 1)) * sr // 1000
        i = int(rng.integers(len(clips)))
        if i not in cache:
            audio, rate = read_wav(clips[i])
            if rate != sr:
                raise StreamError(f"{clips[i]}: sample rate {rate} Hz, expected {sr}")
            cache[i] = audio.astype(np.float32) / 32768.0
        clip = cache[i]
        if pos + len(clip) > total:
            break
        speech[pos : pos + len(clip)] += clip
        pos += len(clip)
    noise_files = background_files(root)
    if noise_files and ev["stream_noise_volume"] > 0:
        noise = np.concatenate([read_wav(p)[0].astype(np.float32) / 32768.0 for p in noise_files])
        if len(noise):
            start = int(rng.integers(len(noise)))
            idx = (start + np.arange(total)) % len(noise)
            speech += noise[idx] * float(ev["stream_noise_volume"])
    return np.clip(np.round(speech * 32768.0), -32768, 32767).astype(np.int16)


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


def false_accepts(model_bytes: bytes, root: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Recognizer detections over the generated non-keyword stream."""
    from ml.frontend import stream_features

    ds = params["dataset"]
    audio = make_stream(root, params)
    feats = stream_features(audio, params["frontend"], ds["sample_rate"])
    times, ends = stream_windows(feats, params)
    frames = frames_per_clip(params)
    # Optimized kernels for speed here; bit-exactness is checked on the test split.
    run = tflm.TfliteRunner(model_bytes, reference=False)
    rec = RecognizeCommands(ds["labels"], params["recognizer"])
    detections: dict[str, int] = {}
    outputs = []
    for t, end in progress(
        zip(times, ends, strict=True), total=len(times), desc="stream", unit="inf", leave=False
    ):
        scores = run(feats[None, end - frames + 1 : end + 1])[0]
        outputs.append(np.asarray(scores).reshape(-1))
        d = rec.process(scores, int(t))
        if d.is_new_command:
            detections[d.label] = detections.get(d.label, 0) + 1
    hours = len(audio) / ds["sample_rate"] / 3600.0
    count = sum(detections.values())
    log.info(
        "stream: %.1f min, %d inferences, %d false accepts %s",
        hours * 60,
        len(times),
        count,
        detections,
    )
    return {
        "false_accepts": count,
        "false_accepts_per_hour": round(count / hours, 3),
        "stream_minutes": round(hours * 60, 3),
        "stream_inferences": len(times),
        "stream_scores": np.asarray(outputs, np.int8).reshape(len(outputs), len(ds["labels"])),
    }
