"""The host board: the firmware itself (firmware/core + firmware/tflm + TFLM's reference
kernels, built as `kws_host_board`) serving PROTOCOL.md on a pty. This module only turns a
model_settings.json and a hil/boards.yaml entry into the program's arguments and starts it:
every protocol answer comes from the C++ firmware.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

from hil import proc as bounded
from hil.boards import BOARDS_FILE, board_facts
from ml.errors import KwsError

log = logging.getLogger(__name__)

REPO = BOARDS_FILE.resolve().parents[1]
HOST_BOARD = REPO / "build/firmware/host/kws_host_board"
START_TIMEOUT_S = 30.0
SETTINGS_SCHEMA = 1


def host_board_binary() -> Path:
    """`kws_host_board` (KWS_HOST_BOARD overrides), or a one-line error naming the build."""
    path = Path(os.environ.get("KWS_HOST_BOARD") or HOST_BOARD)
    if not path.is_file():
        raise KwsError(f"{path}: host board not built (run `make host-board`)")
    return path


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


class SettingsError(KwsError):
    """model_settings.json the firmware cannot take: `detail` is the e-boot detail token."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


def _need(s: dict[str, Any], path: Path, *keys: str) -> Any:
    node: Any = s
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            raise SettingsError(f"{path}: field '{'.'.join(keys)}' missing", ".".join(keys))
        node = node[key]
    return node


def _number(s: dict[str, Any], path: Path, *keys: str, kind: type = int) -> Any:
    """A numeric settings field, or one line naming it (never a traceback)."""
    v = _need(s, path, *keys)
    try:
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ValueError
        return kind(v)
    except ValueError:
        name = ".".join(keys)
        raise SettingsError(f"{path}: field '{name}' = {v!r} is not a number", name) from None


def _count(v: Any) -> int:
    """A positive integer fact of the settings, else 0 (then measured from the model)."""
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 0


def model_facts(s: dict[str, Any], blob: bytes) -> dict[str, Any]:
    """sha256, tensor arena size and MACs: from the settings, or measured as the pipeline's
    export measures them (a bring-your-own model's settings may leave them out)."""
    from ml import budget, tflm
    from ml.params import load_params

    m = s.get("model") or {}
    sha = str(m.get("sha256") or hashlib.sha256(blob).hexdigest())
    arena = _count(m.get("tensor_arena_size"))
    if not arena:
        try:
            ev = load_params(REPO / "params.yaml")["evaluate"]
            arena = budget.tensor_arena_size(
                tflm.measure_arena(blob), ev["arena_margin_percent"], ev["arena_margin_bytes"]
            )
        except KwsError:  # not an int8 model: the firmware's boot check says why
            arena = 10 * len(blob)
    macs = _count(m.get("macs"))
    if not macs:
        try:
            macs = tflm.count_macs(blob)
        except Exception:  # not a model TFLite can read: the firmware says why
            macs = 0
    return {"sha256": sha, "tensor_arena_size": arena, "macs": macs}


def settings_text(s: dict[str, Any], path: Path, facts: dict[str, Any]) -> str:
    """model_settings.json -> the firmware's `key=value` settings (host/settings_file.h)."""
    if s.get("schema") != SETTINGS_SCHEMA:
        raise SettingsError(
            f"{path}: field 'schema' is {s.get('schema')!r}, want {SETTINGS_SCHEMA}",
            f"schema={s.get('schema')}",
        )
    shape = _need(s, path, "input", "shape")
    if not (isinstance(shape, list) and len(shape) == 3):
        raise SettingsError(
            f"{path}: field 'input.shape' must be [1, frames, channels]", "input.shape"
        )
    labels = _need(s, path, "labels")
    if not (isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)):
        raise SettingsError(f"{path}: field 'labels' must be a non-empty list of strings", "labels")
    fe = _need(s, path, "frontend")
    rate = _number(s, path, "frontend", "sample_rate")
    clip = rate * _number(s, path, "frontend", "clip_duration_ms") // 1000
    values: dict[str, Any] = {
        "labels": ",".join(labels),
        "frames": shape[1],
        "channels": shape[2],
        "output_scale": repr(_number(s, path, "output", "scale", kind=float)),
        "output_zero_point": _number(s, path, "output", "zero_point"),
        "clip_samples": clip,
        "arena_size": facts["tensor_arena_size"],
        "sha256": facts["sha256"],
        "sample_rate": rate,
    }
    for key in (
        "window_size_ms", "window_stride_ms", "lower_band_limit", "upper_band_limit",
        "smoothing_bits", "even_smoothing", "odd_smoothing", "min_signal_remaining",
        "enable_pcan", "pcan_strength", "pcan_offset", "gain_bits", "enable_log", "scale_shift",
    ):  # fmt: skip
        if key in fe:
            v = fe[key]
            values[key] = int(v) if isinstance(v, bool) else v
    for key, v in (_need(s, path, "recognizer") or {}).items():
        values[key] = v
    return "".join(f"{k}={v}\n" for k, v in values.items())


class BoardProcess:
    """A running board: `spawn` boots one (process, pty); power cycles swap them."""

    proc: subprocess.Popen[bytes] | None = None
    port = ""

    def spawn(self) -> tuple[subprocess.Popen[bytes], str]:
        raise NotImplementedError

    def start(self) -> str:
        """Starts (or restarts: a power cycle) the board; returns its pty."""
        self.stop()
        self.proc, self.port = self.spawn()
        return self.port

    def adopt(self, proc: subprocess.Popen[bytes], port: str) -> str:
        """Power-cycle onto an instance from `spawn` (already booted: no start-up wait)."""
        self.stop()
        self.proc, self.port = proc, port
        return port

    def stop(self) -> None:
        if self.proc is not None:
            bounded.stop(self.proc)


class HostBoard(BoardProcess):
    """One `kws_host_board` process; `port` is its pty once it printed `PORT <path>`."""

    def __init__(
        self,
        board: str,
        settings_path: Path,
        model_path: Path | None = None,
        *,
        fw: str | None = None,
        plant: str | None = None,
        workdir: Path,
        boards_file: Path = BOARDS_FILE,
    ) -> None:
        facts = board_facts(board, boards_file)
        s = read_settings(settings_path)
        model_path = model_path or settings_path.parent / str(
            (s.get("model") or {}).get("file", "model_int8.tflite")
        )
        try:
            blob = model_path.read_bytes()
        except OSError as exc:
            raise KwsError(f"{model_path}: cannot read ({exc.strerror or exc})") from None
        facts_model = model_facts(s, blob)
        workdir.mkdir(parents=True, exist_ok=True)
        text = workdir / f"{board}.settings"
        safe: list[str] = []
        try:
            body = settings_text(s, settings_path, facts_model)
        except SettingsError as exc:  # e.g. an erased slot: the firmware boots in safe mode
            log.warning("%s: %s: the board boots in safe mode", board, exc)
            body, safe = f"sha256={facts_model['sha256']}\n", ["--safe-mode", exc.detail[:39]]
        text.write_text(body)
        macs = int(facts_model["macs"])
        macs_per_us = float(facts["macs_per_cycle"]) * float(facts["clock_hz"]) / 1e6
        self.board = board
        self.cmd = [
            str(host_board_binary()), "--board", board, "--model", str(model_path),
            "--settings", str(text), "--model-budget", str(facts["model_budget_bytes"]),
            "--arena-budget", str(facts["arena_budget_bytes"]),
            "--macs-per-us", repr(macs_per_us), "--macs", str(macs),
        ]  # fmt: skip
        if fw:
            self.cmd += ["--fw", fw]
        if plant:
            self.cmd += ["--plant", plant]
        self.cmd += safe
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = ""
        self.start()

    def spawn(self) -> tuple[subprocess.Popen[bytes], str]:
        """Another instance of this board's firmware, booted: (process, pty)."""
        proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE)
        first = bounded.first_line(proc, START_TIMEOUT_S)
        if not first.startswith("PORT "):
            proc.kill()
            proc.wait()
            raise KwsError(f"host board {self.board}: did not come up (see its stderr)")
        return proc, first.split(" ", 1)[1].strip()
