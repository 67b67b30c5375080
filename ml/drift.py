"""Score distributions as the firmware counts them (`stats`: hist + detections) and the two
drift figures the monitor stage compares them with.

A distribution is what one board reports in `m-stats` (firmware/PROTOCOL.md):
- `hist`: the top score of every inference in 16 bins of 16 int8 steps, bin = (score+128)//16;
- `detections`: per keyword (labels not starting with `_`), inferences whose top label it
  is with score + 128 >= recognizer.detection_threshold; `inferences - sum` is `none`.
`evaluate` computes the same counts from the int8 model's outputs on the test split and on
the false-accept stream (the reference); boards send theirs as telemetry.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

HIST_BINS = 16
PSEUDO = 0.5  # counts added to every bin for the PSI (Laplace-style smoothing)


def distribution(scores: np.ndarray, labels: list[str], threshold: int) -> dict[str, Any]:
    """Counts of `scores` (int8, one row per inference, label order) as `stats` has them."""
    s = np.asarray(scores, dtype=np.int64).reshape(-1, len(labels))
    top = np.argmax(s, axis=1) if len(s) else np.zeros(0, np.int64)
    top_score = s[np.arange(len(s)), top] if len(s) else np.zeros(0, np.int64)
    hist = np.bincount((top_score + 128) // 16, minlength=HIST_BINS)[:HIST_BINS]
    detections = {}
    for i, label in enumerate(labels):
        if not label.startswith("_"):
            detections[label] = int(np.sum((top == i) & (top_score + 128 >= threshold)))
    return {"inferences": len(s), "hist": [int(v) for v in hist], "detections": detections}


def categories(dist: dict[str, Any], name: str) -> tuple[list[str], np.ndarray]:
    """Bin names and counts of one distribution (`hist` or `labels`) of a stats-like dict."""
    if name == "hist":
        return [f"bin{i}" for i in range(HIST_BINS)], np.asarray(dist["hist"], np.float64)
    det = dist["detections"]
    keys = sorted(det)
    counts = [float(det[k]) for k in keys]
    none = max(0.0, float(dist["inferences"]) - sum(counts))
    return [*keys, "none"], np.asarray([*counts, none], np.float64)


def _proportions(counts: np.ndarray, pseudo: float) -> np.ndarray:
    c = np.asarray(counts, np.float64) + pseudo
    return c / c.sum() if c.sum() > 0 else np.full(len(c), 1.0 / len(c))


def psi(observed: np.ndarray, expected: np.ndarray, pseudo: float = PSEUDO) -> float:
    """Population stability index sum (o - e) ln(o / e) over bin proportions, with `pseudo`
    counts added to every bin of both sides (an empty bin would make it infinite, and one
    clip in a bin the reference never saw would dominate it)."""
    o, e = _proportions(observed, pseudo), _proportions(expected, pseudo)
    return float(np.sum((o - e) * np.log(o / e)))


def chi2_p(observed: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """Chi-square test that the board's counts and the reference's come from one distribution
    (homogeneity, scipy's chi2_contingency on the 2 x bins table: the reference is a finite
    sample too): (statistic, p). Bins empty on both sides are dropped."""
    from scipy.stats import chi2_contingency

    table = np.vstack([np.asarray(observed, np.float64), np.asarray(expected, np.float64)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    res = chi2_contingency(table, correction=False)
    p = float(res.pvalue)
    return float(res.statistic), p if math.isfinite(p) else 0.0
