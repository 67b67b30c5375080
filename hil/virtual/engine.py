"""The virtual board's compute: an int8 KWS model on the TFLM runtime, the front-end through
ml.frontend, and the setup checks a real board's firmware does at boot.

Setup failures are `BootError`s carrying the PROTOCOL.md `e-boot` reason; the board then
stays in safe mode, as the firmware does.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hil.boards import BOARDS_FILE, board_facts
from hil.virtual import runtime as tflm
from ml.errors import KwsError

log = logging.getLogger(__name__)

SETTINGS_SCHEMA = 1
TFLITE_SCHEMA_VERSION = 3  # firmware/core/boot_check.h kExpectedSchemaVersion


def _input_shape_ok(shape: list[int], frames: int, channels: int) -> bool:
    """The input layouts the firmware accepts: 1xFxC, 1xFxCx1 or micro_speech's 1x(F*C)."""
    return list(shape) in ([1, frames, channels], [1, frames, channels, 1], [1, frames * channels])


class BootError(Exception):
    """Setup failed: `reason` is one of PROTOCOL.md's e-boot reasons, `detail` one token."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"e-boot reason={reason} detail={detail}")
        self.reason, self.detail = reason, detail.replace(" ", "_")[:48] or "-"


@dataclass
class ModelFacts:
    """What `id` reports and what the latency estimate needs; known even in safe mode."""

    sha256: str = "0" * 64
    frames: int = 0
    channels: int = 0
    labels: list[str] = field(default_factory=list)
    arena_size: int = 0
    arena_used: int = 0
    macs: int = 0


def read_settings(path: Path) -> dict[str, Any]:
    """model_settings.json as a dict; an unreadable file is a CLI error (no board to boot)."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise KwsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise KwsError(f"{path}: not valid JSON (line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise KwsError(f"{path}: must be a JSON object")
    return data


def _need(settings: dict[str, Any], *keys: str) -> Any:
    node: Any = settings
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            raise BootError("model-schema", ".".join(keys))
        node = node[key]
    return node


class Engine:
    """Model + front-end of one virtual board. `boot_error` is set when setup failed."""

    def __init__(
        self,
        board: str,
        settings_path: Path,
        model_path: Path | None = None,
        boards_file: Path = BOARDS_FILE,
    ) -> None:
        self.board, self.boards_file = board, boards_file
        self.facts_board = board_facts(board, boards_file)
        self.settings = read_settings(settings_path)
        model_path = model_path or settings_path.parent / str(
            (self.settings.get("model") or {}).get("file", "model_int8.tflite")
        )
        try:
            self.blob = model_path.read_bytes()
        except OSError as exc:
            raise KwsError(f"{model_path}: cannot read ({exc.strerror or exc})") from None
        self.model_path = model_path
        self.facts = ModelFacts(sha256=hashlib.sha256(self.blob).hexdigest())
        self.boot_error: BootError | None = None
        self._interp: Any = None
        try:
            self._setup()
        except BootError as exc:
            self.boot_error = exc
            log.warning("%s: safe mode: %s", board, exc)

    # -- setup: the same checks, in the same order, as firmware/core at boot
    def _setup(self) -> None:
        s = self.settings
        if s.get("schema") != SETTINGS_SCHEMA:
            raise BootError("model-schema", f"schema={s.get('schema')}")
        labels = _need(s, "labels")
        shape_in = _need(s, "input", "shape")
        fe = _need(s, "frontend")
        if not isinstance(labels, list) or not labels:
            raise BootError("model-schema", "labels")
        self.facts.labels = [str(x) for x in labels]
        if not (isinstance(shape_in, list) and len(shape_in) == 3):
            raise BootError("model-schema", "input.shape")
        self.facts.frames, self.facts.channels = int(shape_in[1]), int(shape_in[2])
        self.sample_rate = int(_need(s, "frontend", "sample_rate"))
        self.clip_samples = self.sample_rate * int(_need(s, "frontend", "clip_duration_ms")) // 1000
        self.frontend = fe
        self.threshold = int(_need(s, "recognizer", "detection_threshold")) - 128

        # The firmware's boot_check.cc, in its order and with its detail tokens.
        try:
            version = tflm.model_version(self.blob)
            io, ops = tflm.model_io(self.blob), tflm.model_ops(self.blob)
        except Exception:  # not a TFLite flatbuffer at all
            raise BootError("model-schema", "0") from None
        if version != TFLITE_SCHEMA_VERSION:
            raise BootError("model-schema", str(version))
        missing = [op for op in ops if op not in tflm.supported_ops()]
        if missing:
            raise BootError("op", missing[0])
        try:
            used = tflm.measure_arena(self.blob)
        except KwsError:  # not int8: the type checks below say so
            used = 0
        model = s.get("model") or {}
        size = int(model.get("tensor_arena_size") or 0) or tflm.arena_with_margin(used)
        self.facts.arena_used, self.facts.arena_size = used, size
        over = tflm.budget_detail(self.board, self.boards_file, len(self.blob), size)
        if over:
            raise BootError("budget", over)
        try:
            self._interp = tflm.interpreter(self.blob, size)
        except KwsError:  # TFLM could not allocate the tensors in kTensorArenaSize
            raise BootError("arena", str(size)) from None
        inp, out = io["input"], io["output"]
        self._in_shape = tuple(int(d) for d in inp["shape"])
        if not _input_shape_ok(inp["shape"], self.facts.frames, self.facts.channels):
            raise BootError("input-shape", "x".join(map(str, inp["shape"])))
        if inp["dtype"] != "int8":
            raise BootError("input-type", inp["dtype"])
        if list(out["shape"]) != [1, len(labels)]:
            raise BootError("output-shape", "x".join(map(str, out["shape"])))
        if out["dtype"] != "int8":
            raise BootError("output-type", out["dtype"])
        self.facts.macs = int(model.get("macs") or 0) or tflm.count_macs(self.blob)
        self.last_features = np.zeros((self.facts.frames, self.facts.channels), np.int8)

    # -- runtime
    @property
    def latency_us(self) -> int:
        """MACs / (MACs per cycle x clock): the board's estimate, never a measurement."""
        b = self.facts_board
        return round(self.facts.macs / (float(b["macs_per_cycle"]) * float(b["clock_hz"])) * 1e6)

    def infer(self, features: np.ndarray) -> np.ndarray:
        """int8 scores (labels,) of one int8 feature window (frames, channels)."""
        x = np.asarray(features, np.int8).reshape(self.facts.frames, self.facts.channels)
        self.last_features = x
        self._interp.set_input(x.reshape(self._in_shape), 0)
        self._interp.invoke()
        return np.asarray(self._interp.get_output(0)).reshape(-1).astype(np.int8)

    def features_of(self, audio: np.ndarray) -> np.ndarray:
        """The on-device front-end: int16 PCM -> int8 (frames, channels)."""
        from ml.frontend import compute_features

        return compute_features(audio, self.frontend, self.sample_rate, self.clip_samples)

    def warm_up(self) -> None:
        """Load TensorFlow's front-end now (seconds), so no command waits for it."""
        self.features_of(np.zeros(self.clip_samples, np.int16))
