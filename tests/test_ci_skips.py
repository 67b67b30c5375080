"""tests/ci_skips.py: under CI=true a skip fails unless it needs hardware or a toolchain."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUITE = """
import pytest

def test_runs():
    pass

def test_needs_mlflow():
    pytest.skip("needs the mlflow CLI")

@pytest.mark.skipif(True, reason="needs g++ to compile the headers")
def test_needs_gxx():
    pass

def test_needs_board():
    pytest.skip("needs a board attached: --board and --port")

@pytest.mark.skipif(True, reason="needs ESP-IDF (idf.py) to build the esp32 firmware")
def test_needs_idf():
    pass
"""


def run(tmp_path: Path, ci: str | None, source: str = SUITE) -> tuple[int, dict[str, str]]:
    (tmp_path / "test_suite.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(REPO)
    junit = tmp_path / "junit.xml"
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.ci_skips", "-p", "no:cacheprovider",
         "-p", "no:xdist", "-q", "--rootdir", str(tmp_path), "--junitxml", str(junit),
         str(tmp_path / "test_suite.py")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False,
    )  # fmt: skip
    outcome = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcome[case.get("name")] = kinds[0] if kinds else "passed"
    return p.returncode, outcome


def test_under_ci_only_hardware_and_toolchain_skips_pass(tmp_path):
    code, outcome = run(tmp_path, "true")
    assert code == 1
    assert outcome == {
        "test_runs": "passed",
        "test_needs_mlflow": "failure",
        "test_needs_gxx": "error",  # a skip marker acts at setup: a setup error
        "test_needs_board": "skipped",
        "test_needs_idf": "skipped",
    }


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_a_skip_is_a_skip(tmp_path, ci):
    code, outcome = run(tmp_path, ci)
    assert code == 0
    assert sorted(outcome.values()) == ["passed"] + ["skipped"] * 4


def test_under_ci_a_module_level_skip_fails_collection(tmp_path):
    src = 'import pytest\npytest.skip("no dataset", allow_module_level=True)\n'
    code, outcome = run(tmp_path, "true", src)
    assert code != 0
    assert "skipped" not in outcome.values()
