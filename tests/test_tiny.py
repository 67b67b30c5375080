"""ml.tiny: a second build with unchanged inputs is a no-op; the key follows code and params."""

from __future__ import annotations

import time
from pathlib import Path

from ml import tiny
from ml.params import load_params

REPO = Path(__file__).resolve().parents[1]


def test_second_build_is_a_no_op(tiny_pipeline: Path) -> None:
    stamp = tiny_pipeline / tiny.STAMP
    settings = tiny_pipeline / "firmware/generated/model_settings.json"
    before = (stamp.stat().st_mtime_ns, settings.stat().st_mtime_ns)
    start = time.monotonic()
    assert tiny.build(tiny_pipeline, REPO / "params.yaml") == tiny_pipeline
    assert time.monotonic() - start < 10
    assert (stamp.stat().st_mtime_ns, settings.stat().st_mtime_ns) == before


def test_input_key_tracks_params() -> None:
    base = tiny.tiny_params(load_params(REPO / "params.yaml"), seed=52)
    other = tiny.tiny_params(load_params(REPO / "params.yaml"), seed=52)
    assert tiny.input_key(base) == tiny.input_key(other)
    other["train"]["epochs"] += 1
    assert tiny.input_key(base) != tiny.input_key(other)
