"""Field clips on the virtual board (firmware/PROTOCOL.md "Field clips", the same logic as
firmware/core/field_clip.cc): one clip buffer, a band of int8 top scores, off by default."""

from __future__ import annotations

import re

import numpy as np

from hil import wire

INT8 = re.compile(r"-?[0-9]{1,3}")


class FieldClip:
    def __init__(self, boot_band: tuple[int, int] | None = None) -> None:
        self.boot_band = boot_band
        self.reset()

    def reset(self) -> None:
        self.band = self.boot_band
        self.clip: tuple[bytes, np.ndarray, int] | None = None
        self.seq = 0

    def offer(self, pcm: np.ndarray, clip_samples: int, scores: np.ndarray, top: int) -> None:
        if self.band is None or not self.band[0] <= int(scores[top]) <= self.band[1]:
            return
        padded = np.zeros(clip_samples, "<i2")
        padded[: len(pcm)] = pcm[:clip_samples]
        self.clip = (padded.tobytes(), np.asarray(scores).copy(), top)
        self.seq += 1

    def take(self, args: list[str], labels: list[str]) -> tuple[str, bool]:
        """`clip`: (line, ok); the m- line, or the e- line when ok is False."""
        if args:
            return "e-bad-args cmd=clip", False
        if self.clip is None:
            return "m-clip n=0", True
        raw, scores, top = self.clip
        self.clip = None
        s = ",".join(str(int(v)) for v in scores)
        return (
            f"m-clip seq={self.seq} idx={top} label={labels[top]} score={int(scores[top])} "
            f"scores={s} n={len(raw)} crc={wire.crc32_hex(raw)} b64={wire.b64(raw)}",
            True,
        )

    def set_band(self, args: list[str]) -> tuple[str, bool]:
        """`clipband`: (line, ok) as `take`."""
        if args == ["off"]:
            self.band = None
        elif len(args) == 2 and all(INT8.fullmatch(a) for a in args):
            lo, hi = int(args[0]), int(args[1])
            if not (-128 <= lo <= hi <= 127):
                return "e-bad-args cmd=clipband", False
            self.band = (lo, hi)
        elif args:
            return "e-bad-args cmd=clipband", False
        if self.band is None:
            return "m-clipband state=off", True
        return f"m-clipband state=on lo={self.band[0]} hi={self.band[1]}", True
