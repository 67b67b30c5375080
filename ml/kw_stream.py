"""The keyword stream of the evaluate stage: evaluate.stream_minutes of the test split's words
(keywords and `_unknown_` words, no silence clips) strung together with gaps over the
background noise, as the false-accept stream is (ml/fa_stream.py), through the recognizer.

Streaming recall is the share of spoken keywords the recognizer detects, with the right label,
between a keyword's onset and evaluate.stream_tolerance_ms after its end (micro_speech's
streaming test allows 750 ms). Every other detection in the stream is an error. This is what
a person speaking to the board meets; the test split's clip accuracy is not.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ml.dataset import SILENCE, UNKNOWN, list_clips
from ml.fa_stream import Placed, StreamError, compose, detections, stream_scores

log = logging.getLogger(__name__)


def keyword_stream(root: Path, params: dict[str, Any]) -> tuple[np.ndarray, list[Placed]]:
    """The test split's words (no silence clips) strung together like evaluate's stream."""
    labels = params["dataset"]["labels"]
    skip = {labels.index(SILENCE)} if SILENCE in labels else set()
    clips = [(c.path, c.label) for c in list_clips(root, params)["testing"] if c.label not in skip]
    if not any(labels[label] != UNKNOWN for _, label in clips):
        raise StreamError(f"{root}: the test split has no keyword clips for the keyword stream")
    # Another seed than evaluate's stream: the two streams must not share their draws.
    return compose(clips, root, params, params["evaluate"]["seed"] + 1)


def score_hits(
    found: list[tuple[int, str]],
    placed: list[Placed],
    labels: list[str],
    sample_rate: int,
    tolerance_ms: int,
) -> tuple[int, int, int]:
    """(keywords, hits, errors): a hit is the first detection of a keyword's own label between
    its onset and tolerance_ms after its end; every other detection is an error."""
    ms = 1000.0 / sample_rate
    spans = [
        (p.start * ms, (p.start + p.length) * ms + tolerance_ms, labels[p.label])
        for p in placed
        if labels[p.label] not in (UNKNOWN, SILENCE)
    ]
    hit = [False] * len(spans)
    errors = 0
    for t, label in found:
        for i, (start, end, word) in enumerate(spans):
            if start <= t <= end and word == label and not hit[i]:
                hit[i] = True
                break
        else:
            errors += 1
    return len(spans), sum(hit), errors


def streaming_recall(model_bytes: bytes, root: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Streaming recall and errors per hour at the params' recognizer settings."""
    ds, ev = params["dataset"], params["evaluate"]
    audio, placed = keyword_stream(root, params)
    times, scores = stream_scores(model_bytes, audio, params, desc="keyword stream")
    found = detections(times, scores, ds["labels"], params["recognizer"])
    keywords, hits, errors = score_hits(
        found, placed, ds["labels"], ds["sample_rate"], ev["stream_tolerance_ms"]
    )
    hours = len(audio) / ds["sample_rate"] / 3600.0
    recall = round(hits / keywords, 4) if keywords else 0.0
    log.info("keyword stream: %d of %d keywords detected, %d errors", hits, keywords, errors)
    return {
        "streaming_recall": recall,
        "streaming_keywords": keywords,
        "streaming_errors_per_hour": round(errors / hours, 3),
    }
