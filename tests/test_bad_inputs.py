"""Bad inputs, table-driven: params, data, models, boards, CLI and outputs.

Each case runs one command-line entry point as a user would, in its own directory, and asserts:
exit code 1, exactly one error line on stderr that names the file or field, no traceback, and
no new or changed file anywhere in that directory (so no partial output).

TensorFlow/absl print start-up notices on stderr before any of our code runs (`WARNING: All
log messages before absl::InitializeLog()`, `I0000 ...cudart_stub`); they are not our lines
and are filtered by NOISE until the quiet-logging change silences them at the source.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from ml.audio import write_wav

REPO = Path(__file__).resolve().parents[1]
NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} \d\d:\d\d:\d\d\.\d+ )"
)
ENV = {
    **os.environ,
    "TF_USE_LEGACY_KERAS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PYTHONPATH": str(REPO),
    "KWS_LOG_LEVEL": "WARNING",
}


@dataclass
class Ws:
    """One case's directory and the shared read-only inputs it may point at."""

    root: Path
    tiny: Path  # the tiny pipeline (model, features, data): read only
    params: dict[str, Any]  # the tiny params, to mutate
    extra_env: dict[str, str] = field(default_factory=dict)

    def write_params(self, text: str | None = None) -> None:
        if text is None:
            text = yaml.safe_dump(self.params, sort_keys=False)
        (self.root / "params.yaml").write_text(text)

    def data_copy(self) -> Path:
        dst = self.root / "data"
        if not dst.exists():
            shutil.copytree(self.tiny / "data/speech_commands", dst)
        return dst

    def clip(self, label: str = "yes") -> Path:
        """A training clip of the data copy (no list file names it)."""
        data = self.data_copy()
        listed = set()
        for name in ("validation_list.txt", "testing_list.txt"):
            listed |= set((data / name).read_text().split())
        return next(
            p for p in sorted((data / label).glob("*.wav")) if f"{label}/{p.name}" not in listed
        )


# ------------------------------------------------------------------ commands


def validate_cmd(ws: Ws) -> list[str]:
    data = ws.root / "data" if (ws.root / "data").exists() else ws.tiny / "data/speech_commands"
    return ["-m", "ml.validate", "--data", str(data), "--report", "out/data.json",
            "--params", "params.yaml"]  # fmt: skip


def evaluate_cmd(ws: Ws, **over: str) -> list[str]:
    t = ws.tiny
    args = {
        "--float": str(t / "build/model/float.keras"),
        "--int8": str(t / "build/model/model_int8.tflite"),
        "--features": str(t / "build/features"),
        "--data": str(t / "data/speech_commands"),
        "--boards": str(REPO / "hil/boards.yaml"),
        "--ops": str(REPO / "firmware/core/supported_ops.def"),
        "--metrics": "out/evaluate.json",
        "--plots": "out/plots",
        "--params": "params.yaml",
        **over,
    }
    return ["-m", "ml.evaluate", *[x for kv in args.items() for x in kv]]


def export_cmd(ws: Ws, **over: str) -> list[str]:
    t = ws.tiny
    args = {
        "--int8": str(t / "build/model/model_int8.tflite"),
        "--features": str(t / "build/features"),
        "--data": str(t / "data/speech_commands"),
        "--metrics": str(t / "metrics/evaluate.json"),
        "--firmware": "out/generated",
        "--vectors": "out/vectors",
        "--params": "params.yaml",
        **over,
    }
    return ["-m", "ml.export", *[x for kv in args.items() for x in kv]]


def register_cmd(ws: Ws, **over: str) -> list[str]:
    t = ws.tiny
    ws.extra_env["MLFLOW_TRACKING_URI"] = f"sqlite:///{ws.root / 'mlflow.db'}"
    args = {
        "--int8": str(t / "build/model/model_int8.tflite"),
        "--firmware": str(t / "firmware/generated"),
        "--metrics": str(t / "metrics/evaluate.json"),
        "--data-report": str(t / "reports/data.json"),
        "--plots": str(t / "metrics/plots"),
        "--params": "params.yaml",
        "--out": "out/registry.json",
        **over,
    }
    return ["-m", "ml.register", *[x for kv in args.items() for x in kv]]


# ------------------------------------------------------------------ mutations


def set_param(dotted: str, value: Any) -> Callable[[Ws], None]:
    def apply(ws: Ws) -> None:
        *parents, leaf = dotted.split(".")
        node = ws.params
        for key in parents:
            node = node[key]
        node[leaf] = value
        ws.write_params()

    return apply


def edit_params(old: str, new: str) -> Callable[[Ws], None]:
    def apply(ws: Ws) -> None:
        text = yaml.safe_dump(ws.params, sort_keys=False)
        assert old in text, old
        ws.write_params(text.replace(old, new, 1))

    return apply


def raw_params(text: str | bytes) -> Callable[[Ws], None]:
    def apply(ws: Ws) -> None:
        path = ws.root / "params.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return apply


def rename_keyword(new: str) -> Callable[[Ws], None]:
    def apply(ws: Ws) -> None:
        ds = ws.params["dataset"]
        ds["keywords"] = [new if k == "go" else k for k in ds["keywords"]]
        ds["labels"] = [new if k == "go" else k for k in ds["labels"]]
        ws.write_params()

    return apply


def riff(code: int, bits: int, payload: bytes, sub: int | None = None, channels: int = 1) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", code, channels, 16000, 16000 * block, block, bits)
    if sub is not None:
        fmt += struct.pack("<HHIH", 22, bits, 4, sub)
        fmt += bytes.fromhex("000000001000800000aa00389b71")
    body = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def bad_wav(data: bytes) -> Callable[[Ws], None]:
    def apply(ws: Ws) -> None:
        ws.write_params()
        ws.clip().write_bytes(data)

    return apply


def long_wav(ws: Ws) -> None:
    ws.write_params()
    write_wav(ws.clip(), np.zeros(17000, np.int16), 16000)


def wrong_rate_wav(ws: Ws) -> None:
    ws.write_params()
    write_wav(ws.clip(), np.zeros(8000, np.int16), 8000)


def truncated_wav(ws: Ws) -> None:
    ws.write_params()
    path = ws.clip()
    path.write_bytes(path.read_bytes()[:1044])


def dangling_list_entry(ws: Ws) -> None:
    ws.write_params()
    with (ws.data_copy() / "testing_list.txt").open("a") as f:
        f.write("yes/ffffffff_nohash_0.wav\n")


def model_file(kind: str) -> Callable[[Ws], None]:
    def apply(ws: Ws) -> None:
        ws.write_params()
        blob = bytearray((ws.tiny / "build/model/model_int8.tflite").read_bytes())
        if kind == "truncated":
            blob = blob[: len(blob) // 2]
        elif kind == "corrupt":  # header intact, body scrambled
            for i in range(64, len(blob), 7):
                blob[i] ^= 0xA5
        elif kind == "not-tflite":
            blob[4:8] = b"XXXX"
        elif kind == "empty":
            blob = bytearray()
        (ws.root / "model.tflite").write_bytes(bytes(blob))

    return apply


def boards_file(text: str) -> Callable[[Ws], None]:
    def apply(ws: Ws) -> None:
        ws.write_params()
        (ws.root / "boards.yaml").write_text(text)

    return apply


def boards_without(field_name: str) -> Callable[[Ws], None]:
    def apply(ws: Ws) -> None:
        boards = yaml.safe_load((REPO / "hil/boards.yaml").read_text())
        del boards["esp32"][field_name]
        boards_file(yaml.safe_dump(boards))(ws)

    return apply


def old_report(ws: Ws) -> None:
    """A previous data.json that a failed write must leave as it was."""
    ws.write_params()
    (ws.root / "out").mkdir()
    (ws.root / "out/data.json").write_text('{"previous": true}\n')


def plain(ws: Ws) -> None:
    ws.write_params()


# "disk full" at the moment the finished file is renamed into place (as ENOSPC or EDQUOT
# would surface from the temp file's close/flush on a full device)
DISK_FULL = (
    "import errno, os\n"
    "def _full(*a, **k): raise OSError(errno.ENOSPC, 'No space left on device')\n"
    "os.replace = _full\n"
)


@dataclass
class Case:
    id: str
    setup: Callable[[Ws], None]
    argv: Callable[[Ws], list[str]]
    expect: str | tuple[str, ...]  # the error line contains these (file and field)
    prelude: str = ""  # python run before the module's main (fault injection)


P = "params.yaml"
CASES: list[Case] = [
    # ---- params.yaml
    Case("nan-float", set_param("train.learning_rate", math.nan), validate_cmd,
         f"{P}: train.learning_rate = nan must be a finite number"),
    Case("inf-float", set_param("train.learning_rate", math.inf), validate_cmd,
         f"{P}: train.learning_rate = inf must be a finite number"),
    Case("minus-inf", set_param("features.background_volume", -math.inf), validate_cmd,
         f"{P}: features.background_volume = -inf must be a finite number"),
    Case("nan-int", set_param("train.epochs", math.nan), validate_cmd,
         f"{P}: train.epochs = nan must be an integer"),
    Case("inf-band", set_param("frontend.upper_band_limit", math.inf), validate_cmd,
         f"{P}: frontend.upper_band_limit = inf must be a finite number"),
    Case("nan-gate", set_param("evaluate.min_accuracy_int8", math.nan), validate_cmd,
         f"{P}: evaluate.min_accuracy_int8 = nan must be a finite number"),
    Case("duplicate-key", edit_params("  epochs: ", "  epochs: 3\n  epochs: "), validate_cmd,
         (f"{P}: line", ": duplicate key 'epochs'")),
    Case("duplicate-section", edit_params("train:\n", "train: {}\ntrain:\n"), validate_cmd,
         (f"{P}: line", ": duplicate key 'train'")),
    Case("list-document", raw_params("- dataset\n- train\n"), validate_cmd,
         f"{P}: must be a mapping of sections (dataset:, train:, ...), is a list"),
    Case("scalar-document", raw_params("42\n"), validate_cmd,
         f"{P}: must be a mapping of sections (dataset:, train:, ...), is a number"),
    Case("empty-document", raw_params("# nothing\n"), validate_cmd,
         f"{P}: must be a mapping of sections (dataset:, train:, ...), is empty"),
    Case("two-documents", raw_params("a: 1\n---\nb: 2\n"), validate_cmd, f"{P}: not valid YAML"),
    Case("bad-yaml", raw_params("train: [1, 2\n"), validate_cmd, f"{P}: not valid YAML at line"),
    Case("not-utf8", raw_params(b"train:\n  epochs: \xff\xfe\n"), validate_cmd,
         f"{P}: not UTF-8 text"),
    Case("missing-params", lambda ws: None, validate_cmd, f"{P}: cannot read"),
    Case("label-upper", rename_keyword("Go"), validate_cmd,
         "dataset.keywords entry 'Go' must match [a-z0-9_]+"),
    Case("label-equals", rename_keyword("go=1"), validate_cmd,
         "dataset.keywords entry 'go=1' must match [a-z0-9_]+"),
    Case("label-space", rename_keyword("go on"), validate_cmd,
         "dataset.keywords entry 'go on' must match [a-z0-9_]+"),
    Case("label-unicode", rename_keyword("gö"), validate_cmd,
         "dataset.keywords entry 'gö' must match [a-z0-9_]+"),
    Case("unknown-key", edit_params("  epochs:", "  epoch:"), validate_cmd,
         f"{P}: unknown key 'train.epoch' (did you mean 'train.epochs'?)"),
    Case("out-of-range", set_param("train.epochs", 0), validate_cmd,
         f"{P}: train.epochs = 0 is out of range"),
    Case("wrong-type", set_param("train.batch_size", "big"), validate_cmd,
         f"{P}: train.batch_size = 'big' must be an integer"),
    Case("bool-for-int", set_param("train.epochs", True), validate_cmd,
         f"{P}: train.epochs = True must be an integer"),
    Case("gate-above-one", set_param("evaluate.min_accuracy_int8", 1.5), validate_cmd,
         f"{P}: evaluate.min_accuracy_int8 = 1.5 is out of range"),
    Case("band-order", set_param("frontend.lower_band_limit", 8000.0), validate_cmd,
         f"{P}: frontend.lower_band_limit must be below upper_band_limit"),
    # ---- data (validate on a copy of the tiny dataset with one bad file)
    Case("wav-float", bad_wav(riff(3, 32, np.zeros(160, "<f4").tobytes())), validate_cmd,
         ".wav: 32-bit float samples, expected 16-bit PCM"),
    Case("wav-extensible-float", bad_wav(riff(0xFFFE, 32, bytes(640), sub=3)), validate_cmd,
         ".wav: 32-bit float samples, expected 16-bit PCM"),
    Case("wav-0-frames", bad_wav(riff(1, 16, b"")), validate_cmd, ".wav: no samples (0 frames)"),
    Case("wav-extensible-0-frames", bad_wav(riff(0xFFFE, 16, b"", sub=1)), validate_cmd,
         ".wav: no samples (0 frames)"),
    Case("wav-stereo", bad_wav(riff(1, 16, bytes(640), channels=2)), validate_cmd,
         ".wav: 2 channels, expected mono"),
    Case("wav-8-bit", bad_wav(riff(1, 8, bytes(160))), validate_cmd,
         ".wav: 8-bit samples, expected 16-bit"),
    Case("wav-not-riff", bad_wav(b"ID3 not a wav"), validate_cmd,
         ".wav: unreadable wav (not a RIFF/WAVE file)"),
    Case("wav-truncated", truncated_wav, validate_cmd, ".wav: truncated wav (500 of 16000"),
    Case("wav-rate", wrong_rate_wav, validate_cmd, ".wav: sample rate 8000 Hz, expected 16000"),
    Case("wav-too-long", long_wav, validate_cmd, ".wav: 1062 ms long, above validate.max_clip_ms"),
    Case("list-dangling", dangling_list_entry, validate_cmd,
         "testing_list.txt: lists yes/ffffffff_nohash_0.wav, which does not exist"),
    Case("data-missing", plain,
         lambda ws: ["-m", "ml.validate", "--data", "nodata", "--report", "out/d.json",
                     "--params", P],
         "nodata: dataset directory not found"),
    # ---- models: a valid TFL3 header is not enough (flatbuffer verifier)
    Case("evaluate-truncated-model", model_file("truncated"),
         lambda ws: evaluate_cmd(ws, **{"--int8": "model.tflite"}),
         "model.tflite: not a valid TFLite model (the flatbuffer verifier rejects it"),
    Case("evaluate-corrupt-model", model_file("corrupt"),
         lambda ws: evaluate_cmd(ws, **{"--int8": "model.tflite"}),
         "model.tflite: not a valid TFLite model (the flatbuffer verifier rejects it"),
    Case("evaluate-not-tflite", model_file("not-tflite"),
         lambda ws: evaluate_cmd(ws, **{"--int8": "model.tflite"}),
         "model.tflite: not a TFLite flatbuffer (no TFL3 identifier)"),
    Case("export-truncated-model", model_file("truncated"),
         lambda ws: export_cmd(ws, **{"--int8": "model.tflite"}),
         "model.tflite: not a valid TFLite model (the flatbuffer verifier rejects it"),
    Case("export-missing-model", plain,
         lambda ws: export_cmd(ws, **{"--int8": "none.tflite"}),
         "none.tflite: model file not found"),
    Case("register-corrupt-model", model_file("corrupt"),
         lambda ws: register_cmd(ws, **{"--int8": "model.tflite"}),
         "model.tflite: not a valid TFLite model (the flatbuffer verifier rejects it"),
    Case("register-empty-model", model_file("empty"),
         lambda ws: register_cmd(ws, **{"--int8": "model.tflite"}),
         "model.tflite: not a TFLite flatbuffer (no TFL3 identifier)"),
    # ---- boards (ml/budget.py's reading; the full field validation of hil/boards.yaml is
    # hil/boards.py's, with its own cases: ADD THEM HERE once it lands on main)
    Case("boards-list", boards_file("- esp32\n- nano33ble\n"),
         lambda ws: evaluate_cmd(ws, **{"--boards": "boards.yaml"}),
         "boards.yaml: must map board names to their facts"),
    Case("boards-bad-yaml", boards_file("esp32: [\n"),
         lambda ws: evaluate_cmd(ws, **{"--boards": "boards.yaml"}),
         "boards.yaml: not valid YAML at line"),
    Case("boards-missing-field", boards_without("model_budget_bytes"),
         lambda ws: evaluate_cmd(ws, **{"--boards": "boards.yaml"}),
         "boards.yaml: board 'esp32' is missing 'model_budget_bytes'"),
    # ---- command line
    Case("evaluate-missing-flags", plain,
         lambda ws: ["-m", "ml.evaluate", "--int8", "x.tflite", "--params", P],
         "python -m ml.evaluate: missing --float, --features, --data, --boards, --ops, --metrics"),
    Case("register-missing-flags", plain, lambda ws: ["-m", "ml.register", "--params", P],
         "python -m ml.register: missing --int8, --firmware, --metrics, --data-report, --plots"),
    Case("metrics-show-missing", plain,
         lambda ws: ["-m", "ml.evaluate", "--show", "none.json"],
         "none.json: no metrics yet (run `make repro`)"),
    # ---- outputs: unwritable directory, full disk; the previous report stays
    Case("report-unwritable-dir", plain,
         lambda ws: ["-m", "ml.validate", "--data", str(ws.tiny / "data/speech_commands"),
                     "--report", "/sys/kws-test/data.json", "--params", P],
         "/sys/kws-test/data.json: cannot write ("),
    Case("report-disk-full", old_report, validate_cmd,
         "out/data.json: cannot write (no space left on the device); previous outputs left",
         prelude=DISK_FULL),
]  # fmt: skip


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 40, len(CASES)
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tiny_pipeline: Path, tmp_path: Path) -> None:
    params = yaml.safe_load((tiny_pipeline / "params.yaml").read_text())
    ws = Ws(root=tmp_path, tiny=tiny_pipeline, params=copy.deepcopy(params))
    case.setup(ws)
    argv = case.argv(ws)
    before = snapshot(tmp_path)
    tiny_before = snapshot(tiny_pipeline / "firmware")
    if case.prelude:
        module, args = argv[1], argv[2:]
        code = (
            f"{case.prelude}import sys\nsys.argv = ['{module}', *{args!r}]\n"
            f"from ml.errors import run_main\nfrom {module} import main\nrun_main(main, {args!r})\n"
        )
        argv = ["-c", code]
    res = subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**ENV, **ws.extra_env},
        timeout=600,
        check=False,
    )
    lines = [x for x in res.stderr.splitlines() if x.strip() and not NOISE.match(x)]
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 1, res.stderr
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: "), lines[0]
    for part in (case.expect,) if isinstance(case.expect, str) else case.expect:
        assert part in lines[0], lines[0]
    assert snapshot(tmp_path) == before  # nothing new, nothing changed
    assert snapshot(tiny_pipeline / "firmware") == tiny_before
