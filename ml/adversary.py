"""Domain-adversarial training against the speech engine (train.engine_adversary).

A synthetic dataset lets a keyword model lean on what an engine sounds like (its timbre,
its prosody) instead of what a word sounds like; a voice it never heard then falls apart.
Here a small head learns to tell the engine of each training clip from the features the
keyword classifier sees (the input of layer "logits"), and a gradient-reversal layer in
front of it (Ganin & Lempitsky, 2015) turns its gradient around for the trunk: the trunk
is pushed towards features from which the engine cannot be told. The head only exists
during training; the exported model is the plain keyword model, at no cost on the board.

Domains are the engines in the training clips' names plus one class, "none", for clips
without an engine (silence, real speakers).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ml.dataset import engine_of

NONE = "none"
HEAD_UNITS = 64


def domain_labels(names: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(domain index per clip, domain names): the sorted engines, then "none"."""
    engines = [engine_of(str(n)) for n in names]
    domains = [*sorted({e for e in engines if e}), NONE]
    index = {d: i for i, d in enumerate(domains)}
    return np.array([index[e or NONE] for e in engines], dtype=np.int64), domains


def gradient_reversal(scale: float) -> Any:
    """A Keras layer: identity forward, gradient times -scale backward."""
    import tensorflow as tf

    from ml.models import keras

    @tf.custom_gradient
    def reverse(x: Any) -> Any:
        return tf.identity(x), lambda dy: -scale * dy

    class GradientReversal(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            return reverse(x)

    return GradientReversal(name="gradient_reversal")


def build_trainer(model: Any, num_labels: int, num_domains: int, scale: float) -> Any:
    """A Keras model that trains `model` (its layers, shared) with the engine adversary.

    Fit it on targets packed as [one-hot keyword (num_labels) | one-hot domain]; its logged
    `loss` and `accuracy` are the keyword model's (as without the adversary), `engine_loss`
    and `engine_accuracy` the head's. `kws_model` is `model`, for callbacks that keep its
    best weights.
    """
    import tensorflow as tf

    from ml.models import keras

    both = keras.Model(model.input, [model.output, model.get_layer("logits").input])
    head = keras.Sequential(
        [
            gradient_reversal(scale),
            keras.layers.Flatten(),
            keras.layers.Dense(HEAD_UNITS, activation="relu"),
            keras.layers.Dense(num_domains, activation="softmax"),
        ],
        name="engine_head",
    )
    head.build(both.output_shape[1])
    domain_loss = keras.losses.CategoricalCrossentropy()

    class Trainer(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.kws_model, self.both, self.head = model, both, head
            self.engine_loss = keras.metrics.Mean(name="engine_loss")
            self.engine_accuracy = keras.metrics.CategoricalAccuracy(name="engine_accuracy")

        def call(self, x: Any, training: bool | None = None) -> Any:
            return self.kws_model(x, training=training)

        def train_step(self, data: Any) -> dict[str, Any]:
            x, y = data
            y_kw, y_dom = y[:, :num_labels], y[:, num_labels:]
            with tf.GradientTape() as tape:
                scores, feats = self.both(x, training=True)
                dom = self.head(feats, training=True)
                kw_loss = self.compiled_loss(
                    y_kw, scores, regularization_losses=self.kws_model.losses
                )
                adv_loss = domain_loss(y_dom, dom)
                total = kw_loss + adv_loss
            variables = self.trainable_variables
            grads = tape.gradient(total, variables)
            self.optimizer.apply_gradients(zip(grads, variables, strict=True))
            self.compiled_metrics.update_state(y_kw, scores)
            self.engine_loss.update_state(adv_loss)
            self.engine_accuracy.update_state(y_dom, dom)
            return {m.name: m.result() for m in self.metrics}

        def test_step(self, data: Any) -> dict[str, Any]:
            x, y = data
            y_kw = y[:, :num_labels]
            scores = self.kws_model(x, training=False)
            self.compiled_loss(y_kw, scores, regularization_losses=self.kws_model.losses)
            self.compiled_metrics.update_state(y_kw, scores)
            return {m.name: m.result() for m in self.metrics if "engine" not in m.name}

    return Trainer()
