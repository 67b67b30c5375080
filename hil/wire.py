"""Facts of the serial protocol (firmware/PROTOCOL.md) shared by the host client and the
virtual board: limits, CRC, the payload bounds of each command and line parsing.

One spec lives in firmware/PROTOCOL.md; this module only names its numbers once for Python.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass

PROTO_VERSION = 1
MAX_LINE = 128  # command line bytes without the terminator
PAYLOAD_GAP_S = 0.5  # longest gap between payload bytes before `e-timeout`
READY = "m-ready"
BENCH_N = (1, 1000)
BENCH_WARMUP = (0, 100)
NUM_HIST_BINS = 16
FW_VIRTUAL = "virtual"  # firmware version prefix of the virtual board


def crc32_hex(data: bytes) -> str:
    """CRC-32 (IEEE 802.3, as zlib.crc32) as 8 lowercase hex digits."""
    return f"{zlib.crc32(data) & 0xFFFFFFFF:08x}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True)
class PayloadBound:
    """Allowed payload lengths of a command: lo..hi, optionally even only."""

    lo: int
    hi: int
    even: bool = False

    def ok(self, n: int) -> bool:
        return self.lo <= n <= self.hi and (not self.even or n % 2 == 0)

    def want(self) -> str:
        return str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"


def payload_bounds(frames: int, channels: int, clip_samples: int) -> dict[str, PayloadBound]:
    """The bound of every payload-carrying command for a model's input and clip length."""
    feature_bytes = frames * channels
    audio = PayloadBound(2, 2 * clip_samples, even=True)
    return {"infer": PayloadBound(feature_bytes, feature_bytes), "audio": audio, "features": audio}


def parse_fields(line: str, prefix: str) -> dict[str, str]:
    """`m-infer idx=1 label=yes` -> {"idx": "1", "label": "yes"}; KeyError if not `prefix`."""
    tokens = line.split(" ")
    if tokens[0] != prefix:
        raise KeyError(prefix)
    fields: dict[str, str] = {}
    for tok in tokens[1:]:
        key, sep, value = tok.partition("=")
        if not sep:
            raise ValueError(f"token without '=' in {prefix} line: {tok[:32]!r}")
        fields[key] = value
    return fields


def score_bin(score: int) -> int:
    """Histogram bin of a top int8 score (16 bins of 16 steps)."""
    return (int(score) + 128) // 16
