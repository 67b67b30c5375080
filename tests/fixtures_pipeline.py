"""Pipeline fixtures: the tiny end-to-end run of ml.tiny (synth ... export), shared by tests.

ml.tiny caches its result keyed by the ml/ sources and params, behind a file lock, so
pytest-xdist workers share one build. Tests use one directory per key under
build/test-cache: a rebuild for other sources (someone editing ml/ while tests run) never
replaces files a running test is reading.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "build" / "test-cache"


@pytest.fixture(scope="session")
def tiny_pipeline() -> Path:
    """A tiny pipeline directory: firmware/generated, hil/vectors, metrics/, model/, data/."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from ml.tiny import build, current_key

    params = REPO / "params.yaml"
    return build(CACHE / f"tiny-pipeline-{current_key(params)}", params)
