"""Data fixtures: a tiny ml.synth dataset, made once and cached across runs and xdist workers.

`tiny_dataset` is keyed by the generator's arguments and the source of the modules that
produce the bytes, so editing the generator regenerates it; a file lock makes pytest-xdist
workers wait for the first one instead of generating it twice.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from ml.params import load_params
from ml.synth import scale_engines
from ml.tiny import pick_seed

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "build" / "test-cache"
TINY_SPEAKERS = 12
TINY_SYNTH = {"repeats": 1, "unknown_words_per_speaker": 2, "background_seconds": 3}
MIN_CLIPS = 2  # validate.min_clips_per_class for the tiny dataset


def tiny_synth_params(speakers: int = TINY_SPEAKERS) -> tuple[dict[str, Any], int]:
    """params.yaml with the tiny generator settings, and the seed to use."""
    params = load_params(REPO / "params.yaml")
    params["synth"].update(TINY_SYNTH)
    params["synth"]["engines"] = scale_engines(params["synth"]["engines"], speakers)
    seed = pick_seed(params, speakers)
    params["synth"]["seed"] = seed
    return params, seed


def cache_key(params: dict[str, Any], seed: int, speakers: int) -> str:
    blob = {
        "dataset": params["dataset"],
        "synth": params["synth"],
        "seed": seed,
        "speakers": speakers,
        "code": [
            p.read_text()
            for p in [
                *sorted((REPO / "ml" / "synth").glob("*.py")),
                REPO / "ml" / "audio.py",
                REPO / "ml" / "dataset.py",
            ]
        ],
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def build_tiny_dataset(speakers: int = TINY_SPEAKERS) -> Path:
    """Generate (or reuse) the cached tiny dataset and return its path."""
    from ml.synth import INFO_FILE, synthesize

    params, seed = tiny_synth_params(speakers)
    out = CACHE / f"tiny-data-{cache_key(params, seed, speakers)}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock", timeout=600):
        # synthesize() renames the finished tree into place, so INFO_FILE means complete.
        if not (out / INFO_FILE).is_file():
            synthesize(out, params, speakers=speakers, seed=seed, workers=2, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_dataset() -> Path:
    """A small Speech Commands-layout dataset (12 speakers, every split non-empty)."""
    return build_tiny_dataset()


@pytest.fixture
def tiny_params(tiny_dataset: Path) -> dict[str, Any]:
    """The tiny dataset's params (a fresh copy per test: mutate freely)."""
    params, _ = tiny_synth_params()
    params["validate"]["min_clips_per_class"] = MIN_CLIPS
    return copy.deepcopy(params)


@pytest.fixture
def small_synth_params() -> dict[str, Any]:
    """params.yaml with a small generator: 1 unknown word per speaker, 2 s of backgrounds."""
    params = load_params(REPO / "params.yaml")
    params["synth"].update(unknown_words_per_speaker=1, background_seconds=2)
    return params
