"""DVC stage `evaluate`: accuracy, runtime parity, false accepts, size and board budgets.

    python -m ml.evaluate --float MODEL.keras --int8 MODEL.tflite --features DIR --data DIR \
        --boards BOARDS.yaml --ops OPS.def --metrics OUT.json --plots DIR --reference OUT.json

(dvc.yaml names the paths; `python -m ml.evaluate --help` lists the options.)

Figures (metrics/evaluate.json, nested keys; DVC shows them flattened as `esp32.fits`):
- accuracy_float (Keras) and accuracy_int8 (TFLM runtime) on the test split, per_class
  precision and recall of the int8 model, and the confusion matrix (plots/confusion.json
  for DVC's confusion template, plots/confusion.png);
- tflm_tflite_mismatches: elements where the TFLM runtime and the TFLite interpreter's
  reference kernels disagree over the whole test split (gate: 0);
- false_accepts_per_hour: detections of the recognizer (ml/recognizer.py, the firmware's
  logic) over evaluate.stream_minutes of non-keyword speech strung together with gaps over
  the background noise, featurized as the device does (one front-end state over the whole
  stream) with an inference every evaluate.stream_hop_ms;
- streaming_recall, streaming_keywords, streaming_errors_per_hour: the same over a stream of
  the test split's words (ml/kw_stream.py): the share of spoken keywords the recognizer
  detects with the right label, and its other detections per hour. Not a gate yet: it is
  the figure that says what a person speaking to the board gets (`make det` sweeps the
  detection threshold);
- int8_by_engine: accuracy_int8 over the test clips of each speech engine (generated data:
  the engine is in the speaker id), beside `make transfer`'s held-out-engine figures;
- model_bytes, arena_bytes (measured by TFLM), tensor_arena_size (with margin), macs;
- per board in hil/boards.yaml: <board>.est_latency_ms, <board>.fits, <board>.ram_bytes.

With `--reference FILE` it also writes the reference distributions the `monitor` stage holds
board telemetry to (ml/drift.py): top-score histogram and detections per keyword of the int8
model on the test split (`test`) and on the false-accept stream (`stream`). Not metrics.

Gates (exit 1 with one line, nothing written): a board budget or an op the firmware does not
register (ml/budget.py), a TFLM/TFLite mismatch, and the quality gates of params.yaml
`evaluate:` (`check_gates`): accuracy_int8 below min_accuracy_int8, int8_drop (float minus
int8 accuracy) above max_int8_drop, false_accepts_per_hour above max_false_accepts_per_hour.
A model that misses one is never exported or registered.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ml import budget, drift, tflm
from ml.dataset import check_root, engine_of
from ml.errors import KwsError, run_main
from ml.eval_outputs import confusion_records, write_outputs
from ml.fa_stream import false_accepts
from ml.fsutil import output_error
from ml.kw_stream import streaming_recall
from ml.metrics_table import metrics_table
from ml.params import DEFAULT_PARAMS, load_params

log = logging.getLogger(__name__)


class EvaluateError(KwsError):
    """A gate failed or an input of the evaluate stage is unusable."""


# ---------------------------------------------------------------- model facts and budgets


def model_facts(model_bytes: bytes, params: dict[str, Any]) -> tuple[budget.ModelFacts, int]:
    """Size, arena (measured and with margin), MACs and ops of the int8 model."""
    ev, ds = params["evaluate"], params["dataset"]
    arena = tflm.measure_arena(model_bytes)
    io = tflm.model_io(model_bytes)
    clip_samples = ds["sample_rate"] * ds["clip_duration_ms"] // 1000
    facts = budget.ModelFacts(
        model_bytes=len(model_bytes),
        tensor_arena_size=budget.tensor_arena_size(
            arena, ev["arena_margin_percent"], ev["arena_margin_bytes"]
        ),
        # beside the arena: the feature window (int8), the payload/microphone clip and the
        # field-clip buffer (firmware/core/field_clip.h), each one clip of int16 audio
        ram_extra_bytes=int(np.prod(io["input"]["shape"])) + 2 * 2 * clip_samples,
        macs=tflm.count_macs(model_bytes),
        ops=tflm.model_ops(model_bytes),
    )
    return facts, arena


# ---------------------------------------------------------------- classification


def classification(y: np.ndarray, pred: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall and the confusion matrix (rows = actual)."""
    n = len(labels)
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    per_class = {}
    for i, label in enumerate(labels):
        tp, predicted, actual = cm[i, i], cm[:, i].sum(), cm[i, :].sum()
        per_class[label] = {
            "precision": round(float(tp / predicted), 4) if predicted else 0.0,
            "recall": round(float(tp / actual), 4) if actual else 0.0,
            "support": int(actual),
        }
    accuracy = float(np.mean(y == pred)) if len(y) else 0.0
    return {"accuracy": accuracy, "per_class": per_class, "confusion": cm}


def accuracy_by_engine(names: np.ndarray, y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Engine -> {accuracy, clips} over the test clips of each speech engine (generated
    data; empty for real speakers). Silence examples belong to no engine."""
    engines = np.array([engine_of(str(n)) or "" for n in names])
    out = {}
    for engine in sorted(set(engines) - {""}):
        rows = engines == engine
        out[engine] = {
            "accuracy": round(float(np.mean(pred[rows] == y[rows])), 4),
            "clips": int(rows.sum()),
        }
    return out


def float_predictions(float_path: Path, x: np.ndarray) -> np.ndarray:
    from ml.fit import load_float_model
    from ml.frontend import dequantize_features

    model = load_float_model(Path(float_path))
    probs = model.predict(dequantize_features(x), batch_size=256, verbose=0)
    return np.argmax(probs, axis=-1)


# ---------------------------------------------------------------- the stage


def evaluate(
    params: dict[str, Any],
    *,
    float_path: Path,
    int8_path: Path,
    features_dir: Path,
    data_root: Path,
    boards_path: Path,
    ops_path: Path,
    stream: bool = True,
) -> tuple[dict[str, Any], list[dict[str, str]], np.ndarray]:
    """All figures; raises EvaluateError/BudgetError when a gate fails."""
    from ml.splits import load_split

    labels = list(params["dataset"]["labels"])
    data_root = check_root(Path(data_root))
    boards = budget.load_boards(boards_path)  # cheap checks first
    ops = budget.supported_ops(ops_path)
    model_bytes = tflm.read_model(int8_path)
    facts, arena = model_facts(model_bytes, params)
    per_board, failures = budget.evaluate_boards(boards, facts, ops)
    if failures:
        raise budget.BudgetError(failures[0])

    x, y, names = load_split(Path(features_dir), "test")
    if len(x) == 0:
        raise EvaluateError(f"{features_dir}/test.npz: no test examples")
    y = y.astype(np.int64)
    out_tflm = tflm.run_tflm(model_bytes, x, arena_size=facts.tensor_arena_size)
    out_tflite = tflm.run_tflite(model_bytes, x)
    mismatches = int(np.count_nonzero(out_tflm != out_tflite))
    if mismatches:
        raise EvaluateError(
            f"{int8_path}: TFLM and TFLite outputs differ in {mismatches} of {out_tflm.size} "
            f"elements on the test split (gate: 0)"
        )
    pred_int8 = np.argmax(out_tflm.reshape(len(x), -1), axis=-1)
    int8 = classification(y, pred_int8, labels)
    pred_float = float_predictions(Path(float_path), x)
    accuracy_float = round(float(np.mean(pred_float == y)), 4)
    accuracy_int8 = round(int8["accuracy"], 4)
    metrics: dict[str, Any] = {
        "accuracy_float": accuracy_float,
        "accuracy_int8": accuracy_int8,
        "int8_drop": round(accuracy_float - accuracy_int8, 4),
        "tflm_tflite_mismatches": mismatches,
        "test_examples": len(x),
        "model_bytes": facts.model_bytes,
        "arena_bytes": arena,
        "tensor_arena_size": facts.tensor_arena_size,
        "macs": facts.macs,
    }
    threshold = params["recognizer"]["detection_threshold"]
    reference = {"test": drift.distribution(out_tflm.reshape(len(x), -1), labels, threshold)}
    if stream:
        fa = false_accepts(model_bytes, data_root, params)
        reference["stream"] = drift.distribution(fa.pop("stream_scores"), labels, threshold)
        metrics.update(fa)
        metrics.update(streaming_recall(model_bytes, data_root, params))
    metrics["reference"] = {
        "labels": labels,
        "detection_threshold": threshold,
        "references": reference,
    }
    metrics["per_class"] = int8["per_class"]
    by_engine = accuracy_by_engine(names, y, pred_int8)
    if by_engine:  # which voices the model hears worst, next to make transfer's figures
        metrics["int8_by_engine"] = by_engine
    metrics.update(per_board)
    return metrics, confusion_records(y, pred_int8, labels), int8["confusion"]


def check_gates(metrics: dict[str, Any], params: dict[str, Any]) -> None:
    """Raise EvaluateError naming the figure, its value and the threshold of a missed gate."""
    ev = params["evaluate"]
    gates = [
        ("accuracy_int8", "<", "min_accuracy_int8"),
        ("int8_drop", ">", "max_int8_drop"),
        ("false_accepts_per_hour", ">", "max_false_accepts_per_hour"),
    ]
    for figure, worse, key in gates:
        value = metrics.get(figure)
        if value is None:  # the stream test was not run
            continue
        limit = ev[key]
        if (value < limit) if worse == "<" else (value > limit):
            word = "below" if worse == "<" else "above"
            raise EvaluateError(
                f"quality gate: {figure} {value}{_events(figure, metrics)} is {word} "
                f"evaluate.{key} {limit} (model not exported or registered)"
            )


def _events(figure: str, metrics: dict[str, Any]) -> str:
    """' (6 in 10.0 min of stream)' for the false-accept rate: a short stream's rate moves
    in steps of one event, which the reader of a failed gate should see."""
    count, minutes = metrics.get("false_accepts"), metrics.get("stream_minutes")
    if figure != "false_accepts_per_hour" or count is None or not minutes:
        return ""
    return f" ({count} in {minutes} min of stream)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("--show", type=Path, help="only print the table of this evaluate.json")
    ap.add_argument("--float", dest="float_model", type=Path, help="float .keras")
    ap.add_argument("--int8", type=Path, help="int8 .tflite")
    ap.add_argument("--features", type=Path, help="directory of the split npz")
    ap.add_argument("--data", type=Path, help="dataset root (stream test)")
    ap.add_argument("--boards", type=Path, help="hil/boards.yaml")
    ap.add_argument("--ops", type=Path, help="firmware/core/supported_ops.def")
    ap.add_argument("--metrics", type=Path, help="evaluate.json to write")
    ap.add_argument("--plots", type=Path, help="directory for the plots")
    ap.add_argument("--reference", type=Path, help="reference distributions JSON to write")
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    args = ap.parse_args(argv)
    if args.show:
        print(metrics_table(args.show, args.plots / "per_class.json" if args.plots else None))
        return 0
    needed = ("float_model", "int8", "features", "data", "boards", "ops", "metrics", "plots")
    missing = [n for n in needed if getattr(args, n) is None]
    if missing:
        flags = ", ".join("--" + ("float" if n == "float_model" else n) for n in missing)
        raise EvaluateError(f"python -m ml.evaluate: missing {flags}")
    params = load_params(args.params)
    metrics, records, cm = evaluate(
        params,
        float_path=args.float_model,
        int8_path=args.int8,
        features_dir=args.features,
        data_root=args.data,
        boards_path=args.boards,
        ops_path=args.ops,
    )
    log.info(
        "accuracy float %.4f int8 %.4f, FA/h %s",
        metrics["accuracy_float"],
        metrics["accuracy_int8"],
        metrics.get("false_accepts_per_hour"),
    )
    check_gates(metrics, params)
    try:
        write_outputs(
            metrics,
            records,
            cm,
            params["dataset"]["labels"],
            metrics_path=args.metrics,
            plots_dir=args.plots,
            reference_path=args.reference,
        )
    except OSError as exc:  # plots dir unwritable (the metrics file is written last, atomically)
        raise output_error(exc.filename or args.plots, exc) from None
    log.info(
        "accuracy float %.4f int8 %.4f, %d bytes, arena %d, FA/h %s",
        metrics["accuracy_float"],
        metrics["accuracy_int8"],
        metrics["model_bytes"],
        metrics["arena_bytes"],
        metrics.get("false_accepts_per_hour"),
    )
    return 0


if __name__ == "__main__":
    run_main(main)
