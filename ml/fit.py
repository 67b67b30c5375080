"""Keras training shared by the stages and tools that fit or load a float model (train, QAT
fine-tuning in quantize, evaluate, the transfer validation): seeds, the learning-rate schedule,
compile + fit (with the engine adversary of ml.adversary), the best-epoch or averaged weights,
deterministic saving and loading."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ml import specaugment
from ml.errors import KwsError

log = logging.getLogger(__name__)


class ModelFileError(KwsError):
    """A float Keras model file is missing or cannot be loaded."""


def seed_everything(seed: int) -> None:
    """Python, numpy and TensorFlow seeds, and deterministic TensorFlow kernels."""
    import tensorflow as tf

    from ml.models import keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def lr_schedule(base: float, decay_epochs: int) -> Any:
    """Halve the learning rate every `decay_epochs` epochs."""
    return lambda epoch, _lr=None: float(base * 0.5 ** (epoch // decay_epochs))


def keyword_model(fitted: Any) -> Any:
    """The keyword model of a model being fitted: an adversarial trainer (ml.adversary)
    wraps it, and callbacks keep only its weights."""
    return getattr(fitted, "kws_model", fitted)


class BestWeights:
    """Keeps the weights of the epoch with the best validation accuracy (in memory)."""

    def __init__(self) -> None:
        self.best: float = -1.0
        self.epoch: int = -1
        self.weights: list[np.ndarray] | None = None

    def callback(self) -> Any:
        from ml.models import keras

        outer = self

        class Keep(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
                acc = float((logs or {}).get("val_accuracy", -1.0))
                if acc >= outer.best:
                    outer.best, outer.epoch = acc, epoch
                    outer.weights = keyword_model(self.model).get_weights()

        return Keep()


class AveragedWeights:
    """The running mean of the weights at the end of the last epochs of a run (stochastic
    weight averaging, Izmailov et al., 2018): a flatter optimum than any one epoch's, which
    the espeak-ng hold-out rewards (README, "What the default model hears").

    `fraction` of `epochs` are averaged (at least one); `apply` sets the mean on the model
    and re-estimates its batch-norm statistics, which do not average."""

    def __init__(self, epochs: int, fraction: float) -> None:
        self.first = epochs - max(1, round(epochs * fraction))
        self.count = 0
        self.mean: list[np.ndarray] | None = None

    def callback(self) -> Any:
        from ml.models import keras

        outer = self

        class Average(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
                if epoch < outer.first:
                    return
                weights = keyword_model(self.model).get_weights()
                outer.count += 1
                if outer.mean is None:
                    outer.mean = [np.array(w, dtype=np.float64) for w in weights]
                else:
                    for i, w in enumerate(weights):  # a running mean
                        outer.mean[i] += (w - outer.mean[i]) / outer.count

        return Average()

    def apply(self, model: Any, x_train: np.ndarray, batch_size: int) -> None:
        if self.mean is None:
            raise KwsError("weight averaging: no epoch was averaged")
        model.set_weights([m.astype(np.float32) for m in self.mean])
        recalibrate_batch_norm(model, x_train, batch_size)


def recalibrate_batch_norm(model: Any, x: np.ndarray, batch_size: int) -> None:
    """Batch-norm moving statistics = their mean over one pass of `x` in training mode (in
    order: deterministic), the weights untouched."""
    from ml.models import keras

    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns:
        return
    saved = [bn.momentum for bn in bns]
    for n, start in enumerate(range(0, len(x), batch_size), start=1):
        for bn in bns:
            bn.momentum = 1.0 - 1.0 / n  # a cumulative mean: batch n weighs 1/n
        model(x[start : start + batch_size], training=True)
    for bn, momentum in zip(bns, saved, strict=True):
        bn.momentum = momentum


def final_weights(
    model: Any,
    tp: dict[str, Any],
    best: BestWeights,
    average: AveragedWeights | None,
    x_train: np.ndarray,
) -> int:
    """Set the weights a run keeps: the averaged ones (train.average_last) or those of the
    best validation epoch. Returns the epoch they stand for (counted from 1)."""
    if average is not None:
        average.apply(model, x_train, tp["batch_size"])
        return average.first + average.count
    if best.weights is not None:
        model.set_weights(best.weights)
    return best.epoch + 1


def fit_callbacks(
    tp: dict[str, Any], epochs: int
) -> tuple[BestWeights, AveragedWeights | None, list[Any]]:
    """(best epoch, weight average or None when train.average_last is 0, the callbacks
    keeping both and scheduling the learning rate) of a run of `epochs`."""
    from ml.models import keras

    best = BestWeights()
    fraction = float(tp.get("average_last", 0.0))
    average = AveragedWeights(epochs, fraction) if fraction > 0 else None
    callbacks = [
        keras.callbacks.LearningRateScheduler(
            lr_schedule(tp["learning_rate"], tp["lr_decay_epochs"])
        ),
        best.callback(),
    ]
    if average is not None:
        callbacks.append(average.callback())
    return best, average, callbacks


def _normalize_keras_zip(path: Path) -> None:
    """Drop the save date from a .keras zip so equal weights give equal bytes (and DVC hashes)."""
    with zipfile.ZipFile(path) as src:
        entries = [(info.filename, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in sorted(entries):
            blob = data
            if name == "metadata.json":
                meta = json.loads(data)
                meta.pop("date_saved", None)
                blob = json.dumps(meta, sort_keys=True).encode()
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, blob)


def save_model(model: Any, out: Path) -> None:
    """Save a .keras file atomically (temp file in the same directory + rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".train.", dir=out.parent))
    try:
        tmp = tmpdir / out.name
        model.save(tmp)
        _normalize_keras_zip(tmp)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def compile_and_fit(
    model: Any,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    num_labels: int,
    tp: dict[str, Any],
    *,
    learning_rate: float,
    epochs: int,
    callbacks: list[Any] | None = None,
    train_names: np.ndarray | None = None,
) -> None:
    """Adam + (label-smoothed) cross-entropy on one-hot labels: training and QAT alike.

    With `train_names` (the training clips' names) and `tp["engine_adversary"]` > 0, the
    model trains against an engine classifier (ml.adversary); `model` stays compiled as is.
    """
    from ml.models import keras

    x_train, y_train, x_val, y_val = data
    onehot = keras.utils.to_categorical

    def compile_(m: Any) -> None:
        m.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=tp["label_smoothing"]),
            metrics=["accuracy"],
        )

    compile_(model)
    targets = onehot(y_train, num_labels)
    scale = float(tp.get("engine_adversary", 0.0))
    if scale > 0 and train_names is not None:
        from ml import adversary

        domains, names = adversary.domain_labels(train_names)
        log.info("engine adversary (scale %g) over %s", scale, ", ".join(names))
        model = adversary.build_trainer(model, num_labels, len(names), scale)
        compile_(model)
        targets = np.concatenate([targets, onehot(domains, len(names))], axis=1)
    sa = tp["specaugment"]
    if specaugment.enabled(sa):  # masked, shuffled batches from a seeded Sequence
        train_data: dict[str, Any] = {
            "x": specaugment.make_sequence(x_train, targets, tp["batch_size"], sa, tp["seed"])
        }
    else:
        train_data = {"x": x_train, "y": targets, "shuffle": True}
        train_data["batch_size"] = tp["batch_size"]
    model.fit(
        **train_data,
        validation_data=(x_val, onehot(y_val, num_labels)),
        epochs=epochs,
        callbacks=callbacks or [],
        verbose=2,
    )


def load_float_model(path: Path) -> Any:
    from ml.models import keras

    if not path.is_file():
        raise ModelFileError(f"{path}: float model missing (run the train stage)")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path}: cannot load the Keras model ({msg})") from None
