"""SpecAugment-style masks on the front-end features, for training only.

Each training example gets, per epoch, up to `time_masks` runs of frames and up to
`freq_masks` runs of channels replaced by the feature floor (0.0, the dequantized value of
int8 -128: no energy). Masks come from a numpy RNG seeded by (seed, epoch), so a run is
reproducible; validation and test data are never masked, and nothing of this reaches the
exported model.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def enabled(sa: dict[str, Any]) -> bool:
    return bool(sa["time_masks"] and sa["time_mask_frames"]) or bool(
        sa["freq_masks"] and sa["freq_mask_channels"]
    )


def mask_batch(x: np.ndarray, sa: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """A masked copy of x (N, frames, channels[, 1])."""
    out = np.array(x, copy=True)
    n, frames, channels = out.shape[:3]
    for axis, count, width, size in (
        (1, sa["time_masks"], sa["time_mask_frames"], frames),
        (2, sa["freq_masks"], sa["freq_mask_channels"], channels),
    ):
        for _ in range(count):
            w = rng.integers(0, width + 1, size=n)
            start = rng.integers(0, size, size=n)
            idx = np.arange(size)[None, :]
            hit = (idx >= start[:, None]) & (idx < (start + w)[:, None])  # (n, size)
            shape = [n, 1, 1] + [1] * (out.ndim - 3)
            shape[axis] = size
            out[np.broadcast_to(hit.reshape(shape), out.shape)] = 0.0
    return out


def make_sequence(
    x: np.ndarray, y: np.ndarray, batch_size: int, sa: dict[str, Any], seed: int
) -> Any:
    """A keras Sequence of shuffled, masked batches; a new order and masks every epoch."""
    from ml.models import keras

    class Masked(keras.utils.Sequence):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0
            self._shuffle()

        def _shuffle(self) -> None:
            self.rng = np.random.default_rng([seed, self.epoch])
            self.order = self.rng.permutation(len(x))

        def __len__(self) -> int:
            return (len(x) + batch_size - 1) // batch_size

        def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
            idx = np.sort(self.order[i * batch_size : (i + 1) * batch_size])
            rng = np.random.default_rng([seed, self.epoch, i])
            return mask_batch(x[idx], sa, rng), y[idx]

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self._shuffle()

    return Masked()
