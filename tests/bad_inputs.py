"""The bad-input tables' harness (tests/test_bad_inputs*.py): one case runs one command-line
entry point as a user would, in its own directory, and must end with exit code 1, exactly one
error line on stderr naming the file or field, no traceback, and no new or changed file
anywhere in that directory (so no partial output).

ml/__init__.py silences TensorFlow's and absl's start-up lines while TensorFlow is imported;
NOISE still drops a line of their format (`WARNING: All log messages before
absl::InitializeLog()`, `I0000 ...`) should a library print one later: those are not our
lines, and the test judges only ours.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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
P = "params.yaml"  # each case's params file, in its own directory


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


# ------------------------------------------------------------------ cases


def plain(ws: Ws) -> None:
    ws.write_params()


# "disk full" at the moment the finished file is renamed into place (as ENOSPC or EDQUOT
# would surface from the temp file's close/flush on a full device)
@dataclass
class Case:
    id: str
    setup: Callable[[Ws], None]
    argv: Callable[[Ws], list[str]]
    expect: str | tuple[str, ...]  # the error line contains these (file and field)
    prelude: str = ""  # python run before the module's main (fault injection)


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def check_table(cases: list[Case], at_least: int) -> None:
    """The table still has its cases (none dropped by an edit) and unique ids."""
    assert len(cases) >= at_least, len(cases)
    assert len({c.id for c in cases}) == len(cases)


def run_case(case: Case, tiny_pipeline: Path, tmp_path: Path) -> None:
    """Set up `case` in `tmp_path`, run its command and check the module docstring's rules."""
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
