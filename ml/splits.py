"""The features stage's split files (`<features>/{train,validation,test}.npz`): reading them
for every stage that trains or evaluates on them, so no stage imports another stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml.errors import KwsError
from ml.frontend import dequantize_features


class FeaturesError(KwsError):
    """The dataset cannot be featurized, or a split file is missing or unusable."""


def load_split(features_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x int8, y int64, names) of one split file; `split` is train, validation or test."""
    path = Path(features_dir) / f"{split}.npz"
    if not path.is_file():
        raise FeaturesError(f"{path}: features missing (run the features stage)")
    try:
        with np.load(path, allow_pickle=False) as z:
            x, y, names = z["x"], z["y"], z["names"]
    except (OSError, ValueError, KeyError) as exc:
        raise FeaturesError(f"{path}: unreadable features file ({exc})") from None
    if x.dtype != np.int8 or x.ndim != 3 or len(x) != len(y):
        raise FeaturesError(f"{path}: expected x int8 (N, frames, channels) and y of length N")
    return x, y, names


def load_xy(features: Path, split: str, num_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Float model inputs and labels of one split, with the labels checked."""
    x, y, _ = load_xy_names(features, split, num_labels)
    return x, y


def load_xy_names(
    features: Path, split: str, num_labels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """load_xy's inputs and labels, and the clips' names, from one read of the split file."""
    x, y, names = load_split(features, split)
    if len(y) == 0:
        raise FeaturesError(f"{features / (split + '.npz')}: no examples")
    if y.min() < 0 or y.max() >= num_labels:
        raise FeaturesError(
            f"{features / (split + '.npz')}: label index {int(y.max())} outside "
            f"dataset.labels ({num_labels} labels)"
        )
    return dequantize_features(x), y.astype(np.int64), names
