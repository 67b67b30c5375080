"""A release bundle: the pipeline's outputs collected for the jobs, the bundle's files and
their SHA256SUMS, the quality gates it was built under, and the board images the workflow
adds to it. ml/release.py builds, deploys and publishes it; ml/report.py reads its gates.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tarfile
from pathlib import Path
from typing import Any

from hil.boards import board_names
from ml.errors import KwsError

SUMS = "SHA256SUMS"


class ReleaseError(KwsError):
    """The release is refused, or a board, bundle or registry step failed."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def collect(generated: Path, vectors: Path, params: Path, metrics: Path, out: Path) -> None:
    for need in (generated / "model_settings.json", vectors / "manifest.json", params):
        if not need.is_file():
            raise ReleaseError(f"{need}: missing (run the pipeline: make ci-pipeline)")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(generated, tmp / "generated")
    shutil.copytree(vectors, tmp / "vectors")
    shutil.copyfile(params, tmp / "params.yaml")
    if metrics.is_dir():
        shutil.copytree(metrics, tmp / "metrics")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"collect: model artefacts in {out}")


def model_files(model_dir: Path) -> tuple[dict[str, Any], Path]:
    settings_path = model_dir / "generated/model_settings.json"
    try:
        settings = json.loads(settings_path.read_text())
        name = settings["model"].get("file", "model_int8.tflite")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise ReleaseError(f"{settings_path}: missing or without model.file") from None
    tflite = model_dir / "generated" / name
    if not tflite.is_file():
        raise ReleaseError(f"{tflite}: missing (the export puts the .tflite beside its settings)")
    return settings, tflite


def gate_results(metrics: dict[str, Any]) -> dict[str, bool]:
    """{gate: passed}: evaluate.json's `gates` when present, and every board's budget fit."""
    out: dict[str, bool] = {}
    gates = metrics.get("gates")
    if isinstance(gates, dict):
        for name, g in gates.items():
            if isinstance(g, dict) and "passed" in g:
                out[name] = bool(g["passed"])
            elif isinstance(g, bool):
                out[name] = g
    for board in board_names():
        b = metrics.get(board)
        if isinstance(b, dict) and "fits" in b:
            out.setdefault(f"budget.{board}", bool(b["fits"]))
    return out


def read_metrics(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "metrics/evaluate.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        raise ReleaseError(f"{path}: missing or not JSON (run the evaluate stage)") from None
    if not isinstance(data, dict):
        raise ReleaseError(f"{path}: not a JSON object")
    return data


def write_sums(bundle: Path) -> None:
    files = sorted(p.name for p in bundle.iterdir() if p.is_file() and p.name != SUMS)
    text = "".join(f"{sha256_file(bundle / n)}  {n}\n" for n in files)
    (bundle / SUMS).write_text(text)


def verify_sums(bundle: Path) -> dict[str, Any]:
    sums = bundle / SUMS
    try:
        lines = sums.read_text().splitlines()
    except OSError:
        raise ReleaseError(f"{sums}: missing") from None
    listed = set()
    for i, line in enumerate(lines, 1):
        digest, _, name = line.partition("  ")
        if not name or "/" in name or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ReleaseError(f"{sums}: line {i} is not '<sha256>  <file>'")
        path = bundle / name
        if not path.is_file():
            raise ReleaseError(f"{sums}: {name} is missing from {bundle}")
        if sha256_file(path) != digest:
            raise ReleaseError(f"{sums}: {name} does not match its sha256")
        listed.add(name)
    extra = {p.name for p in bundle.iterdir() if p.is_file()} - listed - {SUMS}
    if extra:
        raise ReleaseError(f"{sums}: does not list {', '.join(sorted(extra))}")
    try:
        info = json.loads((bundle / "release.json").read_text())
    except (OSError, ValueError):
        raise ReleaseError(f"{bundle}/release.json: missing or not JSON") from None
    if sha256_file(bundle / info["model_file"]) != info["model_sha256"]:
        raise ReleaseError(f"{bundle}: {info['model_file']} is not the released model")
    return info


def assemble(tag: str, download: Path, out_root: Path) -> Path:
    """The bundle from the workflow's artifacts (release-bundle + firmware-<board>)."""
    bundle = out_root / tag
    src = download / "release-bundle" / tag
    if src.is_dir():
        shutil.rmtree(bundle, ignore_errors=True)
        shutil.copytree(src, bundle)
    if not bundle.is_dir():
        raise ReleaseError(f"{src}: release bundle missing (artifact release-bundle)")
    verify_sums(bundle)
    added = []
    for board in board_names():
        fw = download / f"firmware-{board}"
        if fw.is_dir() and any(fw.iterdir()):
            name = f"firmware-{board}.tar.gz"
            with tarfile.open(bundle / name, "w:gz") as tar:
                tar.add(fw, arcname=board)
            added.append(name)
    if added:
        write_sums(bundle)
    return bundle


def unpack(bundle: Path, work: Path) -> dict[str, Path]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with tarfile.open(bundle / "hil-vectors.tar.gz") as tar:
        tar.extractall(work, filter="data")
    gen = work / "generated"
    gen.mkdir()
    info = json.loads((bundle / "release.json").read_text())
    shutil.copyfile(bundle / "model_settings.json", gen / "model_settings.json")
    shutil.copyfile(bundle / info["model_file"], gen / info["model_file"])
    images = work / "images"
    for board in board_names():
        fw = bundle / f"firmware-{board}.tar.gz"
        if fw.is_file():
            with tarfile.open(fw) as tar:
                tar.extractall(images, filter="data")
    return {"settings": gen / "model_settings.json", "vectors": work / "vectors", "images": images}


def board_image(board: str, images: Path) -> Path | None:
    d = images / board
    if not d.is_dir():
        return None
    bins = sorted(d.glob("*.bin"))
    # ESP-IDF: the build folder (flasher_args.json); Nano: the one .bin arduino-cli made
    return d if (d / "flasher_args.json").is_file() or len(bins) != 1 else bins[0]
