"""The firmware version a board should report (`fw=` in `m-boot` and `m-id`): the one in
firmware/core/version.h, which the virtual board reports too."""

from __future__ import annotations

import re
from pathlib import Path

from ml.errors import KwsError

VERSION_H = Path(__file__).resolve().parents[1] / "firmware/core/version.h"


def firmware_version(path: Path = VERSION_H) -> str:
    try:
        m = re.search(r'kFirmwareVersion\s*=\s*"([^"]+)"', path.read_text())
    except OSError as exc:
        raise KwsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not m:
        raise KwsError(f"{path}: no kFirmwareVersion string")
    return m.group(1)
