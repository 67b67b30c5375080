"""DVC stage `export`: firmware/generated/ and hil/vectors/ from the int8 model.

    python -m ml.export --int8 MODEL.tflite --features DIR --data DIR --metrics EVALUATE.json \
        --firmware DIR --vectors DIR [--params params.yaml]

(dvc.yaml names the paths; `python -m ml.export --help` lists the options.)

Writes exactly what docs/contracts.md specifies: model_data.h/.cc (alignas(16) array and its
length), model_settings.h (header-only constexpr facts), model_settings.json (the same for
tools), a copy of model_int8.tflite, and the golden vectors (test-split features with the TFLM
runtime's outputs; test clips with the features ml.frontend computes). Both directories are
built in temp directories and swapped in together under a journal (ml/fsutil.replace_dirs):
an export killed halfway leaves both from the previous model or both from the new one, and
the next export finishes an interrupted swap first.

Outputs depend only on the model, params and data: no git sha, time or path, so equal models
give byte-identical exports (and an unchanged dvc.lock). The firmware build stamps its own
provenance (git sha, build time).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ml import tflm
from ml.audio import read_wav
from ml.codegen import MODEL_DATA_H, model_data_cc, settings_header
from ml.dataset import check_root, list_clips
from ml.errors import KwsError, run_main
from ml.fsutil import output_error, read_json_object, recover_dirs, replace_dirs
from ml.params import DEFAULT_PARAMS, frames_per_clip, load_params, params_hash

log = logging.getLogger(__name__)
SCHEMA = 1


class ExportError(KwsError):
    """An input of the export stage is missing or inconsistent."""


# ---------------------------------------------------------------- provenance


def data_hash(data_root: Path) -> str:
    """data.dvc's md5 when the dataset is DVC-tracked, else a hash of its file list."""
    import yaml

    data_root = Path(data_root)
    for candidate in (data_root.parent / f"{data_root.name}.dvc", Path("data.dvc")):
        if not candidate.is_file():
            continue
        try:
            out = yaml.safe_load(candidate.read_text())["outs"][0]
            tracked = (candidate.parent / out["path"]).resolve()
            md5 = out["md5"]
        except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError):
            continue
        if tracked == data_root.resolve():  # data.dvc must track this very directory
            return str(md5).removesuffix(".dir")
    root = check_root(Path(data_root))
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(f"{p.relative_to(root).as_posix()}\0{p.stat().st_size}\n".encode())
    return h.hexdigest()[:32]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- settings


def settings(
    params: dict[str, Any],
    model_bytes: bytes,
    metrics: dict[str, Any],
    provenance: dict[str, str],
) -> dict[str, Any]:
    """model_settings.json's content (docs/contracts.md)."""
    ds = params["dataset"]
    io = tflm.model_io(model_bytes)
    for key in ("arena_bytes", "tensor_arena_size", "macs"):
        if not isinstance(metrics.get(key), int):
            raise ExportError(f"evaluate metrics: '{key}' missing or not an integer")
    expected = [1, frames_per_clip(params), params["frontend"]["num_channels"]]
    if io["input"]["shape"] != expected:
        raise ExportError(f"model: input shape {io['input']['shape']} is not {expected}")
    if io["output"]["shape"] != [1, len(ds["labels"])]:
        raise ExportError(
            f"model: output shape {io['output']['shape']} does not match "
            f"{len(ds['labels'])} dataset.labels"
        )
    return {
        "schema": SCHEMA,
        "labels": list(ds["labels"]),
        "input": io["input"],
        "output": io["output"],
        "frontend": {
            **params["frontend"],
            "sample_rate": ds["sample_rate"],
            "clip_duration_ms": ds["clip_duration_ms"],
        },
        "recognizer": dict(params["recognizer"]),
        "model": {
            "file": "model_int8.tflite",
            "sha256": sha256(model_bytes),
            "bytes": len(model_bytes),
            "arena_bytes": metrics["arena_bytes"],
            "tensor_arena_size": metrics["tensor_arena_size"],
            "ops": tflm.model_ops(model_bytes),
            "macs": metrics["macs"],
        },
        "provenance": provenance,
    }


def pick(n: int, k: int) -> np.ndarray:
    """k indices spread evenly over range(n) (all of them when k >= n)."""
    if k >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def golden_audio(
    data_root: Path, params: dict[str, Any], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k test clips (round-robin over labels, so keywords are covered) and their features."""
    from ml.frontend import compute_features

    ds = params["dataset"]
    clip_samples = ds["sample_rate"] * ds["clip_duration_ms"] // 1000
    frames, channels = frames_per_clip(params), params["frontend"]["num_channels"]
    clips = list_clips(Path(data_root), params)["testing"]
    by_label: dict[int, list] = {}
    for c in clips:
        by_label.setdefault(c.label, []).append(c)
    chosen = []
    while len(chosen) < k and any(by_label.values()):
        for label in sorted(by_label):
            if by_label[label] and len(chosen) < k:
                chosen.append(by_label[label].pop(0))
    audio = np.zeros((len(chosen), clip_samples), dtype=np.int16)
    feats = np.zeros((len(chosen), frames, channels), dtype=np.int8)
    for i, c in enumerate(chosen):
        a, rate = read_wav(c.path)
        if rate != ds["sample_rate"]:
            raise ExportError(f"{c.path}: sample rate {rate} Hz, expected {ds['sample_rate']}")
        if len(a) > clip_samples:
            raise ExportError(f"{c.path}: longer than {ds['clip_duration_ms']} ms")
        audio[i, : len(a)] = a
        feats[i] = compute_features(audio[i], params["frontend"], ds["sample_rate"], clip_samples)
    return audio, feats, np.array([c.label for c in chosen], dtype=np.int64)


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def write_text(path: Path, text: str) -> None:
    path.write_text(text)


def swap_journal(firmware_dir: Path) -> Path:
    """Where the swap of firmware/generated + hil/vectors is journalled (beside the first)."""
    return Path(firmware_dir).parent / f".{Path(firmware_dir).name}.export-swap.json"


def _staging(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))


def export(
    params: dict[str, Any],
    *,
    int8_path: Path,
    features_dir: Path,
    data_root: Path,
    metrics_path: Path,
    firmware_dir: Path,
    vectors_dir: Path,
) -> dict[str, Any]:
    """Write both directories; return the settings dict."""
    from ml.splits import load_split

    firmware_dir, vectors_dir = Path(firmware_dir), Path(vectors_dir)
    journal = swap_journal(firmware_dir)
    if recover_dirs(journal):
        log.warning("finished the swap of an export that was interrupted (%s)", journal)
    model_bytes = tflm.read_model(int8_path)
    metrics = read_json_object(
        metrics_path, "evaluate metrics", ExportError, " (run the evaluate stage)"
    )
    data_root = check_root(Path(data_root))
    provenance = {
        "data_hash": data_hash(data_root),
        "params_hash": params_hash(params),
    }
    s = settings(params, model_bytes, metrics, provenance)
    model_sha = s["model"]["sha256"]

    x, y, _ = load_split(Path(features_dir), "test")
    idx = pick(len(x), params["export"]["golden_vectors"])
    gx, gy = x[idx], y[idx].astype(np.int64)
    expected = tflm.run_tflm(model_bytes, gx, arena_size=s["model"]["tensor_arena_size"])
    expected = expected.reshape(len(gx), -1)
    audio, afeats, ay = golden_audio(data_root, params, params["export"]["golden_audio"])

    try:
        fw_tmp = _staging(firmware_dir)
    except OSError as exc:
        raise output_error(firmware_dir.parent, exc, ExportError) from None
    try:
        vec_tmp = _staging(vectors_dir)
    except OSError as exc:
        shutil.rmtree(fw_tmp, ignore_errors=True)
        raise output_error(vectors_dir.parent, exc, ExportError) from None
    try:
        write_text(fw_tmp / "model_data.h", MODEL_DATA_H)
        write_text(fw_tmp / "model_data.cc", model_data_cc(model_bytes, model_sha))
        write_text(fw_tmp / "model_settings.h", settings_header(s))
        write_text(fw_tmp / "model_settings.json", json.dumps(s, indent=2) + "\n")
        (fw_tmp / "model_int8.tflite").write_bytes(model_bytes)
        save_npz(vec_tmp / "features.npz", x=gx, y=gy, expected=expected)
        save_npz(vec_tmp / "audio.npz", audio=audio, features=afeats, y=ay)
        manifest = {
            "model_sha256": model_sha,
            "vectors": len(gx),
            "audio": len(audio),
            "labels": s["labels"],
        }
        write_text(vec_tmp / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        for d in (fw_tmp, vec_tmp):
            os.chmod(d, 0o755)
        replace_dirs([(fw_tmp, firmware_dir), (vec_tmp, vectors_dir)], journal)
    except OSError as exc:
        raise output_error(exc.filename or firmware_dir, exc, ExportError) from None
    finally:
        if not journal.exists():  # else the staged trees are the swap's to finish
            shutil.rmtree(fw_tmp, ignore_errors=True)
            shutil.rmtree(vec_tmp, ignore_errors=True)
    log.info(
        "exported %s (%d bytes, arena %d) and %d vectors + %d clips to %s",
        firmware_dir,
        len(model_bytes),
        s["model"]["tensor_arena_size"],
        len(gx),
        len(audio),
        vectors_dir,
    )
    return s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.export", description=__doc__.split("\n")[0])
    ap.add_argument("--int8", type=Path, required=True, help="int8 .tflite")
    ap.add_argument("--features", type=Path, required=True, help="directory of the split npz")
    ap.add_argument("--data", type=Path, required=True, help="dataset root (golden audio)")
    ap.add_argument("--metrics", type=Path, required=True, help="metrics/evaluate.json")
    ap.add_argument("--firmware", type=Path, required=True, help="firmware/generated")
    ap.add_argument("--vectors", type=Path, required=True, help="hil/vectors")
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    export(
        params,
        int8_path=args.int8,
        features_dir=args.features,
        data_root=args.data,
        metrics_path=args.metrics,
        firmware_dir=args.firmware,
        vectors_dir=args.vectors,
    )
    return 0


if __name__ == "__main__":
    run_main(main)
