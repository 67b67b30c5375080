"""Pipeline fixtures: the tiny profile (ml.tiny: dvc.yaml with tiny params), shared by tests.

The tests use `make tiny`'s workspace (build/tiny): DVC reruns only what changed, and a file
lock lets pytest-xdist workers (and make) share one build. Tests read it, never write it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_pipeline() -> Path:
    """The tiny DVC workspace: the repository's layout (data/, build/model, build/features,
    metrics/, reports/, firmware/generated, hil/vectors) and its params.yaml."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from ml.tiny import DEFAULT_OUT, build

    return build(DEFAULT_OUT, REPO / "params.yaml")
