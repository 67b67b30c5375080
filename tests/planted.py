"""The planted-error runs shared by the host-board and emulated-M4 tests: one acceptance
test (`select`) on a board booted with a one-value error (`plant`), its pytest output."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hil.run_virtual import VirtualBoard
from hil.suite_cmd import pytest_cmd


def planted_suite(
    board: str, kind: str, pipeline: Path, results: Path, *, plant: str, select: str
) -> subprocess.CompletedProcess[str]:
    settings = pipeline / "firmware/generated/model_settings.json"
    with VirtualBoard(board, settings, ["--plant", plant], kind=kind) as vb:
        cmd = pytest_cmd(
            board,
            vb.port,
            settings=settings,
            vectors=pipeline / "hil/vectors",
            results=results,
            params=pipeline / "params.yaml",
        )
        return subprocess.run(
            [*cmd, "-k", select, "-s"], capture_output=True, text=True, timeout=600, check=False
        )
