"""DVC stage `train`: features -> float Keras model, with dvclive metrics and curves.

    python -m ml.train --features F --out MODEL.keras --metrics train.json --live DIR

Trains `model.architecture` on the train split (float input = `dequantize_features(x)`),
validates each epoch on the validation split, and saves the weights of the best validation
epoch (ties: the later epoch) to --out, or with `train.average_last` the mean weights of that
fraction of the last epochs (ml.fit.AveragedWeights; then `best_epoch` is the last epoch).
Seeds and TensorFlow op determinism make two runs on the same inputs give the same model.
--metrics gets the training summary (the figures `dvc metrics diff` compares; epochs counted
from 1); dvclive writes the per-epoch curves
`<live>/plots/metrics/{train,val}/{loss,accuracy}.tsv` for `dvc plots` (x = epoch index).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ml.errors import KwsError, run_main
from ml.fit import (
    compile_and_fit,
    final_weights,
    fit_callbacks,
    save_model,
    seed_everything,
)
from ml.fsutil import write_json_atomic
from ml.params import DEFAULT_PARAMS, load_params
from ml.splits import load_xy, load_xy_names

log = logging.getLogger(__name__)


class TrainError(KwsError):
    """Training inputs are inconsistent (labels, shapes) or the model cannot be saved."""


def in_dvc_repo(path: Path) -> bool:
    return any((d / ".dvc").is_dir() for d in (path, *path.parents))


def open_live(live_dir: Path) -> Any:
    """A dvclive Live writing to live_dir, without side effects on the repository.

    dvclive runs `dvc init` when it finds a git repository that is not yet a DVC repository
    (a fresh clone before `dvc init`, the tests' workspaces); there it is created from a neutral
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
                ("engine_accuracy", "train/engine_accuracy"),  # train.engine_adversary on
            ):
                if key in logs:
                    live.log_metric(name, round(float(logs[key]), 6))
            live.log_metric(
                "learning_rate", float(keras.backend.get_value(self.model.optimizer.lr))
            )
            live.next_step()

    return LiveLogger()


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
    x_train, y_train, train_names = load_xy_names(features, "train", len(labels))
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
    best, average, callbacks = fit_callbacks(tp, tp["epochs"])
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
        train_names=train_names,
    )
    onehot = keras.utils.to_categorical
    epoch = final_weights(model, tp, best, average, x_train)
    _, train_acc = model.evaluate(x_train, onehot(y_train, len(labels)), verbose=0)
    val_acc = best.best
    if average is not None:  # the averaged weights were never validated during the fit
        _, val_acc = model.evaluate(x_val, onehot(y_val, len(labels)), verbose=0)
    summary = {
        "epochs": int(tp["epochs"]),
        "best_epoch": epoch,
        "val_accuracy": round(float(val_acc), 6),
        "train_accuracy": round(float(train_acc), 6),
        "params": int(model.count_params()),
    }
    save_model(model, out)
    if live is not None:
        live.end()
    if metrics_path is not None:
        write_json_atomic(metrics_path, summary)
    kept = f"mean of epochs {average.first + 1}-{epoch}" if average else f"best epoch {epoch}"
    log.info("saved %s (%s, val accuracy %.4f)", out, kept, val_acc)
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
