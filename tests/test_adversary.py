"""ml.adversary: engine domains of clip names and the gradient-reversal layer."""

from __future__ import annotations

import numpy as np
import pytest

from ml.adversary import NONE, domain_labels


def test_domains_are_the_engines_then_none() -> None:
    names = np.array(
        [
            "yes/piper-0a1b_nohash_0.wav",
            "no/espeak-ff00_nohash_3.wav#aug1",
            "_silence_/noise_0.wav",
            "up/espeak-1234_nohash_1.wav",
            "left/0a2b3c4d_nohash_0.wav",  # a real speaker: no engine
        ]
    )
    index, domains = domain_labels(names)
    assert domains == ["espeak", "piper", NONE]
    assert index.tolist() == [1, 0, 2, 0, 2]


@pytest.mark.parametrize("scale", [0.25, 1.0])
def test_gradient_reversal_is_identity_forward_and_negated_backward(scale: float) -> None:
    import tensorflow as tf

    from ml.adversary import gradient_reversal

    layer = gradient_reversal(scale)
    x = tf.Variable([[1.0, -2.0, 3.0]])
    with tf.GradientTape() as tape:
        y = layer(x)
        loss = tf.reduce_sum(y * tf.constant([[1.0, 2.0, 3.0]]))
    assert np.array_equal(y.numpy(), x.numpy())
    assert np.allclose(tape.gradient(loss, x).numpy(), [[-scale, -2 * scale, -3 * scale]])
