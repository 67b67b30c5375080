"""ml/evaluate.py: figures on hand data, the stream, and the stage's gates on the tiny pipeline."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from ml import eval_outputs, evaluate, fa_stream, metrics_table
from ml.params import load_params

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def test_classification_by_hand() -> None:
    labels = ["a", "b", "c"]
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 0, 2])
    c = evaluate.classification(y, pred, labels)
    assert c["accuracy"] == pytest.approx(4 / 6)
    assert c["confusion"].tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert c["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "support": 2}
    assert c["per_class"]["b"] == {"precision": 0.6667, "recall": 1.0, "support": 2}
    assert c["per_class"]["c"] == {"precision": 1.0, "recall": 0.5, "support": 2}
    records = eval_outputs.confusion_records(y, pred, labels)
    assert records[1] == {"actual": "a", "predicted": "b"}
    assert len(records) == 6


def test_stream_windows_follow_the_hop() -> None:
    params = load_params(REPO / "params.yaml")
    # 150 slices = 30 ms + 149 * 20 ms = 3.01 s of audio
    times, ends = fa_stream.stream_windows(np.zeros((150, 40), np.int8), params)
    # first full 49-slice window at t=1000 ms (slice 48 ends at 48*20+30 = 990 ms)
    assert times[0] == 1000 and ends[0] == 48
    assert np.all(np.diff(times) == 100)
    assert np.all(np.diff(ends) == 5)  # 100 ms hop = 5 slices of 20 ms
    assert ends[-1] <= 149


def stage_argv(tiny: Path, **over: str) -> list[str]:
    args = {
        "--float": str(tiny / "build/model/float.keras"),
        "--int8": str(tiny / "build/model/model_int8.tflite"),
        "--features": str(tiny / "build/features"),
        "--data": str(tiny / "data/speech_commands"),
        "--boards": str(REPO / "hil/boards.yaml"),
        "--ops": str(REPO / "firmware/core/supported_ops.def"),
        "--params": str(tiny / "params.yaml"),
        **over,
    }
    return [sys.executable, "-m", "ml.evaluate", *[x for kv in args.items() for x in kv]]


def run_stage(tiny: Path, tmp_path: Path, **over: str) -> subprocess.CompletedProcess:
    argv = stage_argv(
        tiny,
        **{"--metrics": str(tmp_path / "evaluate.json"), "--plots": str(tmp_path / "plots")},
        **over,
    )
    return subprocess.run(
        argv, capture_output=True, text=True, env=ENV, cwd=REPO, timeout=300, check=False
    )


def test_tiny_pipeline_metrics(tiny_pipeline: Path) -> None:
    m = json.loads((tiny_pipeline / "metrics/evaluate.json").read_text())
    for key in (
        "accuracy_float",
        "accuracy_int8",
        "tflm_tflite_mismatches",
        "model_bytes",
        "arena_bytes",
        "macs",
        "false_accepts_per_hour",
        "streaming_recall",
        "streaming_errors_per_hour",
    ):
        assert key in m, key
    # the keyword stream holds the test split's keywords; recall is a share of them
    assert m["streaming_keywords"] > 0 and 0.0 <= m["streaming_recall"] <= 1.0
    assert m["tflm_tflite_mismatches"] == 0
    assert m["model_bytes"] == (tiny_pipeline / "build/model/model_int8.tflite").stat().st_size
    assert 0 < m["arena_bytes"] < m["tensor_arena_size"]
    # per-class figures are a plot (bars per label), not metrics
    assert "per_class" not in m
    per_class = json.loads((tiny_pipeline / "metrics/plots/per_class.json").read_text())
    labels = load_params(tiny_pipeline / "params.yaml")["dataset"]["labels"]
    assert [r["label"] for r in per_class] == list(labels)
    assert set(per_class[0]) == {"label", "precision", "recall", "support"}
    assert sum(r["support"] for r in per_class) == m["test_examples"]
    for board in ("esp32", "nano33ble"):
        assert m[board]["fits"] is True
        assert m[board]["est_latency_ms"] > 0
    records = json.loads((tiny_pipeline / "metrics/plots/confusion.json").read_text())
    assert len(records) == m["test_examples"]
    assert set(records[0]) == {"actual", "predicted"}
    acc = np.mean([r["actual"] == r["predicted"] for r in records])
    assert acc == pytest.approx(m["accuracy_int8"], abs=1e-4)
    assert (tiny_pipeline / "metrics/plots/confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_stream_is_deterministic_and_long_enough(tiny_pipeline: Path) -> None:
    params = load_params(tiny_pipeline / "params.yaml")
    params["evaluate"]["stream_minutes"] = 0.2
    root = tiny_pipeline / "data/speech_commands"
    a = fa_stream.make_stream(root, params)
    assert a.dtype == np.int16
    assert len(a) == int(0.2 * 60 * 16000)
    assert np.array_equal(a, fa_stream.make_stream(root, params))
    other = copy.deepcopy(params)
    other["evaluate"]["seed"] += 1
    assert not np.array_equal(a, fa_stream.make_stream(root, other))
    assert np.abs(a.astype(np.int32)).max() > 1000  # words are in there


def test_model_over_budget_fails_with_one_line(tiny_pipeline: Path, tmp_path: Path) -> None:
    boards = yaml.safe_load((REPO / "hil/boards.yaml").read_text())
    boards["nano33ble"]["model_budget_bytes"] = 1000
    path = tmp_path / "boards.yaml"
    path.write_text(yaml.safe_dump(boards))
    res = run_stage(tiny_pipeline, tmp_path, **{"--boards": str(path)})
    size = (tiny_pipeline / "build/model/model_int8.tflite").stat().st_size
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1] == (
        f"error: board nano33ble: model {size} bytes exceeds model_budget_bytes 1000"
    )
    assert not (tmp_path / "evaluate.json").exists()
    assert not (tmp_path / "plots").exists()


def test_arena_over_budget_fails_with_one_line(tiny_pipeline: Path, tmp_path: Path) -> None:
    boards = yaml.safe_load((REPO / "hil/boards.yaml").read_text())
    boards["esp32"]["arena_budget_bytes"] = 2048
    path = tmp_path / "boards.yaml"
    path.write_text(yaml.safe_dump(boards))
    res = run_stage(tiny_pipeline, tmp_path, **{"--boards": str(path)})
    arena = json.loads((tiny_pipeline / "metrics/evaluate.json").read_text())["tensor_arena_size"]
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1] == (
        f"error: board esp32: tensor arena {arena} bytes exceeds arena_budget_bytes 2048"
    )


def test_unsupported_op_fails_with_one_line(tiny_pipeline: Path, tmp_path: Path) -> None:
    ops = tmp_path / "supported_ops.def"
    text = (REPO / "firmware/core/supported_ops.def").read_text()
    ops.write_text("\n".join(x for x in text.splitlines() if not x.startswith("KWS_OP(SOFTMAX")))
    res = run_stage(tiny_pipeline, tmp_path, **{"--ops": str(ops)})
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1] == (
        "error: board esp32: model uses op SOFTMAX not registered in supported_ops.def"
    )
    assert not (tmp_path / "evaluate.json").exists()


def test_missing_dataset_fails_with_one_line(tiny_pipeline: Path, tmp_path: Path) -> None:
    res = run_stage(tiny_pipeline, tmp_path, **{"--data": str(tmp_path / "nodata")})
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'nodata'}: dataset directory not found (run `make data`)"
    )


def test_missing_model_fails_with_one_line(tiny_pipeline: Path, tmp_path: Path) -> None:
    res = run_stage(tiny_pipeline, tmp_path, **{"--int8": str(tmp_path / "none.tflite")})
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'none.tflite'}: model file not found"
    )


def test_metrics_table(tiny_pipeline: Path) -> None:
    table = metrics_table.metrics_table(tiny_pipeline / "metrics/evaluate.json")
    assert "accuracy_int8" in table
    assert "nano33ble" in table
    with pytest.raises(metrics_table.MetricsFileError) as exc:
        metrics_table.metrics_table(tiny_pipeline / "nothing.json")
    assert str(exc.value) == f"{tiny_pipeline / 'nothing.json'}: no metrics yet (run `make repro`)"


@pytest.mark.parametrize(
    ("figures", "gate", "limit", "line"),
    [
        (
            {"accuracy_int8": 0.9123},
            "min_accuracy_int8",
            0.95,
            "quality gate: accuracy_int8 0.9123 is below evaluate.min_accuracy_int8 0.95",
        ),
        (
            {"int8_drop": 0.031},
            "max_int8_drop",
            0.01,
            "quality gate: int8_drop 0.031 is above evaluate.max_int8_drop 0.01",
        ),
        (
            {"false_accepts_per_hour": 42.0},
            "max_false_accepts_per_hour",
            20.0,
            "quality gate: false_accepts_per_hour 42.0 is above "
            "evaluate.max_false_accepts_per_hour 20.0",
        ),
        (  # with the stream's event count: one false accept more is 6 per hour here
            {"false_accepts_per_hour": 36.0, "false_accepts": 6, "stream_minutes": 10.0},
            "max_false_accepts_per_hour",
            30.0,
            "quality gate: false_accepts_per_hour 36.0 (6 in 10.0 min of stream) is above "
            "evaluate.max_false_accepts_per_hour 30.0",
        ),
    ],
)
def test_quality_gates_name_figure_value_and_threshold(
    figures: dict[str, float], gate: str, limit: float, line: str
) -> None:
    params = load_params(REPO / "params.yaml")
    params["evaluate"][gate] = limit
    good = {"accuracy_int8": 0.987, "int8_drop": -0.0037, "false_accepts_per_hour": 6.0}
    evaluate.check_gates(good, params)  # today's default model passes every gate
    with pytest.raises(evaluate.EvaluateError) as exc:
        evaluate.check_gates({**good, **figures}, params)
    assert str(exc.value) == f"{line} (model not exported or registered)"
    # exactly at the threshold passes
    evaluate.check_gates({**good, **figures, next(iter(figures)): limit}, params)


def test_gate_fails_the_stage_and_writes_nothing(tiny_pipeline: Path, tmp_path: Path) -> None:
    params = yaml.safe_load((tiny_pipeline / "params.yaml").read_text())
    params["evaluate"]["min_accuracy_int8"] = 0.999
    params["evaluate"]["stream_minutes"] = 0.2
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    res = run_stage(tiny_pipeline, tmp_path, **{"--params": str(tmp_path / "params.yaml")})
    acc = json.loads((tiny_pipeline / "metrics/evaluate.json").read_text())["accuracy_int8"]
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        f"error: quality gate: accuracy_int8 {acc} is below evaluate.min_accuracy_int8 0.999 "
        "(model not exported or registered)"
    )
    assert not (tmp_path / "evaluate.json").exists()
    assert not (tmp_path / "plots").exists()


def test_accuracy_by_engine_groups_test_clips_by_the_speaker_ids_engine() -> None:
    from ml.evaluate import accuracy_by_engine

    names = np.array(
        [
            "yes/espeak-0a1b_nohash_0.wav",
            "no/espeak-0a1c_nohash_0.wav",
            "up/piper-99ff_nohash_0.wav",
            "silence",
            "yes/3f2a1b0c_nohash_0.wav",
        ]
    )
    y = np.array([2, 3, 4, 0, 2])
    pred = np.array([2, 1, 4, 0, 3])
    assert accuracy_by_engine(names, y, pred) == {
        "espeak": {"accuracy": 0.5, "clips": 2},
        "piper": {"accuracy": 1.0, "clips": 1},
    }  # silence and a real speaker (no engine prefix) belong to no engine
    assert accuracy_by_engine(names[3:], y[3:], pred[3:]) == {}  # real data: no figures
