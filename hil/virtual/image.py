"""A virtual board's flash image: a model_settings.json and the .tflite it names, checked
against the sha256 in the settings and written into the slot's `flash/` atomically (a
half-written image is never booted)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from ml.errors import KwsError

FLASH_DIR = "flash"


class ImageError(KwsError):
    """The image's settings or model cannot be read or do not match."""


def image_files(settings: Path, model: Path | None = None) -> tuple[dict[str, Any], Path]:
    """The settings (parsed) and the .tflite they name; the model's sha256 must match them."""
    try:
        data = json.loads(Path(settings).read_text())
    except OSError as exc:
        raise ImageError(f"{settings}: cannot read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise ImageError(f"{settings}: not valid JSON (line {exc.lineno})") from None
    m = data.get("model") if isinstance(data, dict) else None
    if not isinstance(m, dict) or not isinstance(m.get("sha256"), str):
        raise ImageError(f"{settings}: no model.sha256")
    model = model or Path(settings).parent / str(m.get("file", "model_int8.tflite"))
    try:
        digest = hashlib.sha256(model.read_bytes()).hexdigest()
    except OSError as exc:
        raise ImageError(f"{model}: cannot read ({exc.strerror or exc})") from None
    if digest != m["sha256"]:
        raise ImageError(
            f"{model}: sha256 {digest[:12]} differs from {settings} ({m['sha256'][:12]})"
        )
    return data, model


def write_image(slot: Path, settings: Path, model: Path | None = None) -> str:
    """Put the image into `slot/flash` atomically; return the model sha256."""
    data, model = image_files(settings, model)
    staging = slot / f"{FLASH_DIR}.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copyfile(model, staging / str(data["model"].get("file", "model_int8.tflite")))
    (staging / "model_settings.json").write_text(json.dumps(data, indent=2) + "\n")
    old = slot / f"{FLASH_DIR}.old"
    shutil.rmtree(old, ignore_errors=True)
    if (slot / FLASH_DIR).exists():
        (slot / FLASH_DIR).rename(old)
    staging.rename(slot / FLASH_DIR)
    shutil.rmtree(old, ignore_errors=True)
    return str(data["model"]["sha256"])
