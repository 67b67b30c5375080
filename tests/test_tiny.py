"""ml.tiny: the tiny profile is dvc.yaml run with tiny params; a second build is a no-op."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from ml import tiny
from ml.params import load_params

REPO = Path(__file__).resolve().parents[1]


def test_second_build_is_a_no_op(tiny_pipeline: Path) -> None:
    names = ("dvc.lock", "params.yaml", "build/model/model_int8.tflite")
    outs = [tiny_pipeline / p for p in (*names, "firmware/generated/model_settings.json")]
    before = [p.stat().st_mtime_ns for p in outs]
    start = time.monotonic()
    assert tiny.build(tiny_pipeline, REPO / "params.yaml") == tiny_pipeline
    assert time.monotonic() - start < 60  # DVC's start-up and status, no stage
    assert [p.stat().st_mtime_ns for p in outs] == before


def test_the_workspace_runs_the_repository_pipeline(tiny_pipeline: Path) -> None:
    assert (tiny_pipeline / "dvc.yaml").read_bytes() == (REPO / "dvc.yaml").read_bytes()
    for module in ("ml/train.py", "ml/export.py", "hil/boards.py"):
        assert (tiny_pipeline / module).read_bytes() == (REPO / module).read_bytes(), module
    lock = yaml.safe_load((tiny_pipeline / "dvc.lock").read_text())["stages"]
    assert set(tiny.STAGES) <= set(lock)
    params = yaml.safe_load((tiny_pipeline / "params.yaml").read_text())
    assert params == tiny.resolved_params(REPO / "params.yaml")  # up to date with params.yaml
    # the tiny overrides (ml/tiny.py's docstring): 40 speakers, a 32-filter DS-CNN, 50 epochs
    assert sum(params["synth"]["engines"].values()) == 40
    assert params["model"]["architecture"] == "ds_cnn"
    assert {k: params["model"]["ds_cnn"][k] for k in ("filters", "blocks")} == {
        "filters": 32,
        "blocks": 2,
    }
    assert params["train"]["epochs"] == 50
    assert lock["train"]["params"]["params.yaml"]["train"]["epochs"] == 50
    # what the tiny profile does not override is the repository's
    repo = load_params(REPO / "params.yaml")  # YAML 1.2, as ml.tiny reads it
    for section in ("dataset", "frontend", "recognizer"):
        assert params[section] == repo[section], section
