"""The tiny profile: the dvc.yaml pipeline with tiny params, in its own DVC workspace.

    python -m ml.tiny --out build/tiny

Writes `<out>/params.yaml` (params.yaml with the TINY overrides below: 40 generated
speakers, a 32-filter DS-CNN, 50 short epochs; about 80% test accuracy), generates the tiny
dataset where dvc.yaml reads it, copies dvc.yaml and its stages' sources (ml.workspace) and
runs `dvc repro export` there. The workspace has the repository's layout, so every output is
where dvc.yaml puts it: `<out>/firmware/generated`, `<out>/hil/vectors`, `<out>/metrics`,
`<out>/build/model`... DVC's lock decides what reruns (a second call is a no-op); a file
lock lets pytest-xdist workers and make call it at the same time.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock

from ml.errors import KwsError, run_main
from ml.params import DEFAULT_PARAMS, load_params, validate_params
from ml.workspace import REPO, copy_pipeline, stage_arg

log = logging.getLogger(__name__)
_EPOCH_LINE = re.compile(r"^(Epoch \d+/\d+$|\d+/\d+ - )")
DEFAULT_OUT = REPO / "build/tiny"
TARGET = "export"  # dvc repro's target: export and every stage before it
STAGES = ("validate", "features", "train", "quantize", "evaluate", "export")
SPEAKERS = 40
# Overrides of params.yaml: small and fast, but every stage still does its real job.
TINY: dict[str, dict[str, Any]] = {
    "synth": {"repeats": 1, "unknown_words_per_speaker": 2, "background_seconds": 20},
    "validate": {"min_clips_per_class": 2},
    "features": {"augment_copies": 1},
    "model": {"architecture": "ds_cnn"},
    "train": {
        "epochs": 50,
        "batch_size": 32,
        "learning_rate": 0.003,
        "lr_decay_epochs": 20,
        "specaugment": {
            "time_masks": 0,
            "time_mask_frames": 6,
            "freq_masks": 0,
            "freq_mask_channels": 5,
        },
    },
    "quantize": {"representative_samples": 64, "qat": False},
    # a 12-speaker model is far from the real one: gates (evaluate, HIL) well above chance (1/12)
    "evaluate": {
        "stream_minutes": 1.0,
        "min_accuracy_int8": 0.25,
        "max_int8_drop": 0.1,
        "max_false_accepts_per_hour": 600.0,
    },
    "export": {"golden_vectors": 64, "golden_audio": 4},
}
TINY_DS_CNN = {"filters": 32, "blocks": 2, "first_stride": [2, 2], "dropout": 0.1}
# What an earlier ml.tiny (its own DAG, before the DVC workspace) left in <out>.
OLD_LAYOUT = (
    "tiny-stamp.json", "features", "model", "live", "metrics/data.json", "metrics/reference.json",
)  # fmt: skip


class TinyError(KwsError):
    """The tiny pipeline could not be built."""


def tiny_params(base: dict[str, Any], seed: int | None = None) -> dict[str, Any]:
    p = copy.deepcopy(base)
    for section, values in TINY.items():
        p[section].update(values)
    p["model"]["ds_cnn"].update(TINY_DS_CNN)
    from ml.synth import scale_engines

    p["synth"]["engines"] = scale_engines(p["synth"]["engines"], SPEAKERS)
    if seed is not None:
        p["synth"]["seed"] = seed
    return validate_params(p, "ml.tiny params")


def pick_seed(params: dict[str, Any], speakers: int, base: int = 52) -> int:
    """The first synth seed whose speakers fill every split (hashes only, cheap)."""
    from ml.dataset import which_set
    from ml.synth import make_speakers

    ds = params["dataset"]
    for seed in range(base, base + 10_000):
        splits = [
            which_set(f"{s.id}_nohash_0.wav", ds["validation_percentage"], ds["testing_percentage"])
            for s in make_speakers(speakers, seed, params["synth"])
        ]
        if min(splits.count(x) for x in ("training", "validation", "testing")) >= 2:
            return seed
    raise TinyError("ml.tiny: no synth seed gives every split two speakers")


def resolved_params(base_params: Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """The tiny params (with the synth seed chosen) for a base params.yaml."""
    base = load_params(base_params)
    return tiny_params(base, seed=pick_seed(tiny_params(base), SPEAKERS))


def build(out: Path = DEFAULT_OUT, base_params: Path = DEFAULT_PARAMS) -> Path:
    """Build (or bring up to date) the tiny pipeline's workspace `out`; return `out`."""
    from ml import synth

    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    params = resolved_params(base_params)
    with FileLock(str(out) + ".lock", timeout=1800):
        out.mkdir(exist_ok=True)
        if not (out / ".dvc").is_dir():
            for name in OLD_LAYOUT:
                path = out / name
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        copy_pipeline(out, STAGES)
        text = yaml.safe_dump(params, sort_keys=False)
        params_file = out / "params.yaml"
        if not params_file.is_file() or params_file.read_text() != text:
            params_file.write_text(text)
        data = out / stage_arg(out / "dvc.yaml", "validate", "--data")
        if not (data / synth.INFO_FILE).is_file() or _synth_changed(data, params):
            synth.synthesize(data, params, workers=2, progress=False)
        if not (out / ".dvc").is_dir():
            dvc(out, "init", "--no-scm", "--quiet")
        dvc(out, "repro", TARGET)
    return out


def dvc(workspace: Path, *args: str) -> None:
    """Run DVC in the workspace, its output logged; a failure is one TinyError line.

    The stages run the workspace's copy of ml/ (`python -m ml.x` from its directory) with
    this environment's Python, as `make repro` runs them with the .venv's.
    """
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TF_USE_LEGACY_KERAS": "1",
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        "PYTHONHASHSEED": "0",
        "DVC_NO_ANALYTICS": "1",
    }
    env.pop("PYTHONPATH", None)
    cmd = [str(Path(sys.executable).parent / "dvc"), *args]
    tail: deque[str] = deque(maxlen=20)
    with subprocess.Popen(
        cmd, cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip():
                # Keras' two lines per epoch would be most of a CI log: debug level
                # (KWS_LOG_LEVEL=DEBUG shows them); the stage's summary stays at info.
                log.log(
                    logging.DEBUG if _EPOCH_LINE.match(line) else logging.INFO,
                    "tiny: %s",
                    line.rstrip(),
                )
                tail.append(line.strip())
    if proc.returncode:
        for line in list(tail)[:-1]:  # the context of the failure, epoch lines included
            log.warning("tiny: %s", line)
        last = tail[-1] if tail else "no output"
        raise TinyError(f"ml.tiny: dvc {args[0]} in {workspace} exited {proc.returncode}: {last}")


def _synth_changed(data: Path, params: dict[str, Any]) -> bool:
    """True when the cached dataset was generated with other synth settings."""
    from ml.synth import INFO_FILE

    try:
        info = json.loads((data / INFO_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return True
    synth = {k: v for k, v in params["synth"].items() if k not in ("seed", "source", "real_dir")}
    if info.get("synth") != synth or info.get("seed") != params["synth"]["seed"]:
        shutil.rmtree(data, ignore_errors=True)
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.tiny", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the tiny DVC workspace")
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="base params.yaml")
    args = ap.parse_args(argv)
    out = build(args.out, args.params)
    print(out / "firmware/generated")
    print(out / "hil/vectors")
    return 0


if __name__ == "__main__":
    run_main(main)
