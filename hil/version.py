"""The firmware version a board should report (`fw=` in `m-boot` and `m-id`): the one in
firmware/core/version.h, plus the provenance the firmware build stamps on it as semver build
metadata (`+g<git sha>[.dirty].<UTC build time>`, firmware/build_stamp.sh)."""

from __future__ import annotations

import re
from pathlib import Path

from ml.errors import KwsError

STAMP_RE = re.compile(r"\+g(?:[0-9a-f]{12}|nogit)(?:\.dirty)?\.\d{8}T\d{6}Z")
VERSION_H = Path(__file__).resolve().parents[1] / "firmware/core/version.h"


def firmware_version(path: Path = VERSION_H) -> str:
    try:
        m = re.search(r'kFirmwareVersion\s*=\s*"([^"]+)"', path.read_text())
    except OSError as exc:
        raise KwsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not m:
        raise KwsError(f"{path}: no kFirmwareVersion string")
    return m.group(1)


def split_stamp(reported: str) -> tuple[str, str]:
    """(version, build stamp) of a reported `fw=`; the stamp is "" when the build made none."""
    version, plus, meta = reported.partition("+")
    return version, plus + meta


def matches(reported: str, version: str) -> bool:
    """`reported` is `version`, bare or with a well-formed build stamp."""
    base, stamp = split_stamp(reported)
    return base == version and (stamp == "" or STAMP_RE.fullmatch(stamp) is not None)
