"""A tiny end-to-end pipeline without DVC, for tests and for firmware/HIL work before a repro.

    python -m ml.tiny --out build/tiny

synth (40 speakers) -> validate -> features -> train (a 32-filter DS-CNN, 50 short epochs;
about 80% test accuracy) -> quantize -> evaluate -> export, each through the stage's own
`main`, with tiny params written to `<out>/params.yaml`. Produces `<out>/firmware/generated`
and `<out>/hil/vectors` exactly as the contracts say. A stamp keyed by ml/*.py and the
params makes a second call a no-op; a file lock lets pytest-xdist workers and make call it at
the same time.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock

from ml.errors import KwsError, run_main
from ml.params import DEFAULT_PARAMS, load_params, validate_params

log = logging.getLogger(__name__)
ML_DIR = Path(__file__).resolve().parent
STAMP = "tiny-stamp.json"
SPEAKERS = 40
# Overrides of params.yaml: small and fast, but every stage still does its real job.
TINY: dict[str, dict[str, Any]] = {
    "synth": {"repeats": 1, "unknown_words_per_speaker": 2, "background_seconds": 20},
    "validate": {"min_clips_per_class": 2},
    "features": {"augment_copies": 1},
    "model": {"architecture": "ds_cnn"},
    "train": {"epochs": 50, "batch_size": 32, "learning_rate": 0.003, "lr_decay_epochs": 20},
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
TINY_DS_CNN = {"filters": 32, "blocks": 2, "dropout": 0.1}


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


def input_key(params: dict[str, Any]) -> str:
    """What the outputs depend on: the pipeline's code and the tiny params."""
    h = hashlib.sha256()
    for path in sorted(ML_DIR.rglob("*.py")):
        h.update(str(path.relative_to(ML_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(json.dumps(params, sort_keys=True).encode())
    return h.hexdigest()[:24]


def is_complete(out: Path, key: str) -> bool:
    try:
        stamp = json.loads((out / STAMP).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return (
        stamp.get("key") == key
        and (out / "firmware/generated/model_settings.json").is_file()
        and (out / "hil/vectors/manifest.json").is_file()
    )


def resolved_params(base_params: Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """The tiny params (with the synth seed chosen) for a base params.yaml."""
    base = load_params(base_params)
    return tiny_params(base, seed=pick_seed(tiny_params(base), SPEAKERS))


def current_key(base_params: Path = DEFAULT_PARAMS) -> str:
    """The key a build would have now (tests use it to keep one directory per key)."""
    return input_key(resolved_params(base_params))


def build(out: Path, base_params: Path = DEFAULT_PARAMS) -> Path:
    """Build (or reuse) the tiny pipeline in `out`; return `out`."""
    from ml import evaluate, export, features, quantize, synth, train, validate

    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    params = resolved_params(base_params)
    key = input_key(params)
    with FileLock(str(out) + ".lock", timeout=1800):
        if is_complete(out, key):
            log.info("%s is up to date", out)
            return out
        (out / STAMP).unlink(missing_ok=True)
        data, feats, model_dir = out / "data/speech_commands", out / "features", out / "model"
        params["dataset"]["path"] = str(data)
        out.mkdir(parents=True, exist_ok=True)
        params_file = out / "params.yaml"
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        pf = ["--params", str(params_file)]
        float_model, int8 = model_dir / "float.keras", model_dir / "model_int8.tflite"
        if not (data / synth.INFO_FILE).is_file() or _synth_changed(data, params):
            synth.synthesize(data, params, workers=2, progress=False)
        steps = [
            (validate.main, ["--data", str(data), "--report", str(out / "metrics/data.json")]),
            (features.main, ["--data", str(data), "--out", str(feats)]),
            (
                train.main,
                ["--features", str(feats), "--out", str(float_model), "--live", str(out / "live")],
            ),
            (
                quantize.main,
                ["--model", str(float_model), "--features", str(feats), "--out", str(int8)],
            ),
            (
                evaluate.main,
                [
                    *("--float", str(float_model), "--int8", str(int8), "--features", str(feats)),
                    *("--data", str(data), "--boards", str(ML_DIR.parent / "hil/boards.yaml")),
                    *("--ops", str(ML_DIR.parent / "firmware/core/supported_ops.def")),
                    *("--metrics", str(out / "metrics/evaluate.json")),
                    *("--plots", str(out / "metrics/plots")),
                    *("--reference", str(out / "metrics/reference.json")),
                ],
            ),
            (
                export.main,
                [
                    *("--int8", str(int8), "--features", str(feats), "--data", str(data)),
                    *("--metrics", str(out / "metrics/evaluate.json")),
                    *("--firmware", str(out / "firmware/generated")),
                    *("--vectors", str(out / "hil/vectors")),
                ],
            ),
        ]
        for fn, argv in steps:
            log.info("tiny: %s", fn.__module__)
            code = fn([*argv, *pf])
            if code:
                raise TinyError(f"ml.tiny: {fn.__module__} exited with {code}")
        tmp = out / (STAMP + ".tmp")
        tmp.write_text(json.dumps({"key": key}) + "\n")
        os.replace(tmp, out / STAMP)
    return out


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
    ap.add_argument("--out", type=Path, default=Path("build/tiny"), help="output directory")
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="base params.yaml")
    args = ap.parse_args(argv)
    out = build(args.out, args.params)
    print(out / "firmware/generated")
    print(out / "hil/vectors")
    return 0


if __name__ == "__main__":
    run_main(main)
