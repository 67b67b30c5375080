"""What the evaluate stage writes: the confusion records and PNG, the per-class plot data,
the reference distributions and, last, the metrics (all or nothing)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ml.fsutil import write_json_atomic as write_json


def confusion_records(y: np.ndarray, pred: np.ndarray, labels: list[str]) -> list[dict[str, str]]:
    return [{"actual": labels[a], "predicted": labels[p]} for a, p in zip(y, pred, strict=True)]


def plot_confusion(cm: np.ndarray, labels: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6), dpi=100)
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    top = cm.max() if cm.size else 0
    for (i, j), v in np.ndenumerate(cm):
        if v:
            ax.text(
                j,
                i,
                str(v),
                ha="center",
                va="center",
                color="white" if v > top / 2 else "black",
                fontsize=7,
            )
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def write_outputs(
    metrics: dict[str, Any],
    records: list[dict[str, str]],
    cm: np.ndarray,
    labels: list[str],
    *,
    metrics_path: Path,
    plots_dir: Path,
    reference_path: Path | None = None,
) -> None:
    """Plots first (staged in a temp dir, then moved), metrics last: all or nothing.

    Per-class precision/recall is a plot (one bar per label), not a metric: as metrics its
    36 columns would crowd the figures people compare in `dvc exp show`.
    """
    metrics = dict(metrics)
    reference = metrics.pop("reference", None)
    per_class = [{"label": k, **v} for k, v in metrics.pop("per_class", {}).items()]
    plots_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".evaluate.", dir=plots_dir))
    try:
        write_json(stage / "confusion.json", records)
        write_json(stage / "per_class.json", per_class)
        plot_confusion(cm, labels, stage / "confusion.png", "int8 (TFLM) confusion, test split")
        for name in ("confusion.json", "per_class.json", "confusion.png"):
            os.replace(stage / name, plots_dir / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if reference_path is not None and reference is not None:
        write_json(reference_path, reference)
    write_json(metrics_path, metrics)
