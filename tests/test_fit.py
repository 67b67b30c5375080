"""ml.fit: the weight average of the last epochs and the batch-norm re-estimation."""

from __future__ import annotations

import numpy as np
import pytest

from ml.fit import AveragedWeights, recalibrate_batch_norm
from ml.models import keras


@pytest.mark.parametrize(
    ("epochs", "fraction", "first"), [(24, 0.5, 12), (8, 0.5, 4), (8, 0.01, 7), (8, 1.0, 0)]
)
def test_the_last_fraction_of_epochs_is_averaged(epochs: int, fraction: float, first: int) -> None:
    assert AveragedWeights(epochs, fraction).first == first  # at least one epoch


def test_average_is_the_mean_of_the_last_epochs_weights() -> None:
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    average = AveragedWeights(epochs=4, fraction=0.5)
    callback = average.callback()
    callback.set_model(model)
    for epoch in range(4):  # weights = epoch everywhere; epochs 2 and 3 count
        model.set_weights([np.full(w.shape, float(epoch), np.float32) for w in model.get_weights()])
        callback.on_epoch_end(epoch)
    average.apply(model, np.zeros((4, 3), np.float32), batch_size=2)
    assert average.count == 2
    assert all(np.all(w == 2.5) for w in model.get_weights())


def test_batch_norm_statistics_are_re_estimated_over_the_data() -> None:
    bn = keras.layers.BatchNormalization(momentum=0.9)
    model = keras.Sequential([keras.Input(shape=(3,)), bn])
    x = np.random.default_rng(0).normal(5.0, 2.0, size=(40, 3)).astype(np.float32)
    recalibrate_batch_norm(model, x, batch_size=10)
    # the mean of the four batch means: the data mean (equal batches), not a decayed one
    assert np.allclose(bn.moving_mean.numpy(), x.mean(axis=0), atol=1e-5)
    batch_vars = [x[i : i + 10].var(axis=0) for i in range(0, 40, 10)]
    assert np.allclose(bn.moving_variance.numpy(), np.mean(batch_vars, axis=0), rtol=1e-4)
    assert bn.momentum == 0.9  # restored for any later training
