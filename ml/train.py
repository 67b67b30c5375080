"""DVC stage `train`: features -> float Keras model, with dvclive metrics and curves.

    python -m ml.train --features F --out MODEL.keras --metrics train.json --live DIR

Trains `model.architecture` on the train split (float input = `dequantize_features(x)`),
validates each epoch on the validation split, and saves the weights of the best validation
epoch (ties: the later epoch) to --out. Seeds and TensorFlow op determinism make two runs on
the same inputs give the same model. --metrics gets the training summary (the figures
`dvc metrics diff` compares; epochs counted from 1); dvclive writes the per-epoch curves
`<live>/plots/metrics/{train,val}/{loss,accuracy}.tsv` for `dvc plots` (x = epoch index).
"""

from __future__ import annotations

import argparse
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
from ml.errors import KwsError, run_main
from ml.features import load_split
from ml.frontend import dequantize_features
from ml.fsutil import write_json_atomic
from ml.params import DEFAULT_PARAMS, load_params

log = logging.getLogger(__name__)


class TrainError(KwsError):
    """Training inputs are inconsistent (labels, shapes) or the model cannot be saved."""


def seed_everything(seed: int) -> None:
    """Python, numpy and TensorFlow seeds, and deterministic TensorFlow kernels."""
    import tensorflow as tf

    from ml.models import keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def load_xy(features: Path, split: str, num_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Float model inputs and labels of one split, with the labels checked."""
    x, y, _ = load_split(features, split)
    if len(y) == 0:
        raise TrainError(f"{features / (split + '.npz')}: no examples")
    if y.min() < 0 or y.max() >= num_labels:
        raise TrainError(
            f"{features / (split + '.npz')}: label index {int(y.max())} outside "
            f"dataset.labels ({num_labels} labels)"
        )
    return dequantize_features(x), y.astype(np.int64)


def lr_schedule(base: float, decay_epochs: int) -> Any:
    """Halve the learning rate every `decay_epochs` epochs."""
    return lambda epoch, _lr=None: float(base * 0.5 ** (epoch // decay_epochs))


def in_dvc_repo(path: Path) -> bool:
    return any((d / ".dvc").is_dir() for d in (path, *path.parents))


def open_live(live_dir: Path) -> Any:
    """A dvclive Live writing to live_dir, without side effects on the repository.

    dvclive runs `dvc init` when it finds a git repository that is not yet a DVC repository
    (a fresh clone before `dvc init`, tests, ml.tiny); there it is created from a neutral
    working directory so it only writes its files.
    """
    from dvclive import Live

    live_dir = live_dir.resolve()
    if live_dir.exists():
        shutil.rmtree(live_dir)  # a fresh history per run, as DVC expects of an output
    kwargs = {"dir": str(live_dir), "save_dvc_exp": False, "dvcyaml": None}
    if in_dvc_repo(Path.cwd()):
        return Live(**kwargs)
    old = os.getcwd()
    with tempfile.TemporaryDirectory() as neutral:
        os.chdir(neutral)
        try:
            return Live(**kwargs)
        finally:
            os.chdir(old)


def make_live_callback(live: Any) -> Any:
    """A Keras callback that logs train/val loss and accuracy to dvclive per epoch."""
    from ml.models import keras

    class LiveLogger(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            logs = logs or {}
            for key, name in (
                ("loss", "train/loss"),
                ("accuracy", "train/accuracy"),
                ("val_loss", "val/loss"),
                ("val_accuracy", "val/accuracy"),
            ):
                if key in logs:
                    live.log_metric(name, round(float(logs[key]), 6))
            live.log_metric(
                "learning_rate", float(keras.backend.get_value(self.model.optimizer.lr))
            )
            live.next_step()

    return LiveLogger()


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
                    outer.weights = self.model.get_weights()

        return Keep()


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
) -> None:
    """Adam + (label-smoothed) cross-entropy on one-hot labels: training and QAT alike."""
    from ml.models import keras

    x_train, y_train, x_val, y_val = data
    onehot = keras.utils.to_categorical
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=tp["label_smoothing"]),
        metrics=["accuracy"],
    )
    sa = tp["specaugment"]
    if specaugment.enabled(sa):  # masked, shuffled batches from a seeded Sequence
        train_data: dict[str, Any] = {
            "x": specaugment.make_sequence(
                x_train, onehot(y_train, num_labels), tp["batch_size"], sa, tp["seed"]
            )
        }
    else:
        train_data = {"x": x_train, "y": onehot(y_train, num_labels), "shuffle": True}
        train_data["batch_size"] = tp["batch_size"]
    model.fit(
        **train_data,
        validation_data=(x_val, onehot(y_val, num_labels)),
        epochs=epochs,
        callbacks=callbacks or [],
        verbose=2,
    )


def train(
    params: dict[str, Any],
    features: Path,
    out: Path,
    live_dir: Path | None = None,
    metrics_path: Path | None = None,
) -> dict[str, float]:
    """Train, save the best model to `out`; return the summary metrics."""
    from ml.models import build_model, keras

    tp, labels = params["train"], params["dataset"]["labels"]
    seed_everything(tp["seed"])
    x_train, y_train = load_xy(features, "train", len(labels))
    x_val, y_val = load_xy(features, "validation", len(labels))
    if x_train.shape[1:] != x_val.shape[1:]:
        raise TrainError(
            f"{features}: train features {x_train.shape[1:]} and validation "
            f"{x_val.shape[1:]} differ in shape"
        )
    model = build_model(params["model"], x_train.shape[1:], len(labels))
    log.info(
        "%s: %d parameters, %d train / %d validation examples",
        model.name,
        model.count_params(),
        len(y_train),
        len(y_val),
    )
    best = BestWeights()
    callbacks = [
        keras.callbacks.LearningRateScheduler(
            lr_schedule(tp["learning_rate"], tp["lr_decay_epochs"])
        ),
        best.callback(),
    ]
    live = None
    if live_dir is not None:
        live = open_live(live_dir)
        callbacks.append(make_live_callback(live))
    compile_and_fit(
        model,
        (x_train, y_train, x_val, y_val),
        len(labels),
        tp,
        learning_rate=tp["learning_rate"],
        epochs=tp["epochs"],
        callbacks=callbacks,
    )
    onehot = keras.utils.to_categorical
    if best.weights is not None:
        model.set_weights(best.weights)
    _, train_acc = model.evaluate(x_train, onehot(y_train, len(labels)), verbose=0)
    summary = {
        "epochs": int(tp["epochs"]),
        "best_epoch": best.epoch + 1,
        "val_accuracy": round(best.best, 6),
        "train_accuracy": round(float(train_acc), 6),
        "params": int(model.count_params()),
    }
    save_model(model, out)
    if live is not None:
        live.end()
    if metrics_path is not None:
        write_json_atomic(metrics_path, summary)
    log.info("saved %s (best epoch %d, val accuracy %.4f)", out, best.epoch + 1, best.best)
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.train", description=__doc__.split("\n")[0])
    ap.add_argument("--features", type=Path, required=True, help="directory of the split npz files")
    ap.add_argument("--out", type=Path, required=True, help="float model to write (.keras)")
    ap.add_argument("--metrics", type=Path, help="training summary to write (JSON)")
    ap.add_argument("--live", type=Path, help="dvclive directory (per-epoch curves)")
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    args = ap.parse_args(argv)
    if args.out.suffix != ".keras":
        raise TrainError(f"{args.out}: the model file must end in .keras")
    params = load_params(args.params)
    train(params, args.features, args.out, args.live, args.metrics)
    return 0


if __name__ == "__main__":
    run_main(main)
