"""The C++ device (firmware/core, on the host: kws_host_device) and the virtual board
(hil/virtual) answer the same malformed and edge inputs with the same lines.

One script of inputs (PROTOCOL.md "Errors" and "MLPerf errors", plus the edges around
them) goes to both; every `e-` line and `m-ready` must be identical, and lines carrying
model-dependent values (scores, latency, sha, clock) must have the same kind and keys.
The C++ side runs the test fakes for the engine and front-end, built against the same
generated model_settings.h the virtual board loads, so shapes and labels agree.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hil.boards import BOARDS_FILE
from tests.conformance import BOARD, assert_alike, cpp_answers, feature_bytes, virtual_answers
from tests.conformance_script import safe_mode_script, script

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def settings(tiny_pipeline) -> Path:
    return tiny_pipeline / "firmware/generated/model_settings.json"


@pytest.fixture(scope="module")
def host_device(tiny_pipeline) -> Path:
    """kws_host_device built against the tiny pipeline's generated headers."""
    missing = [t for t in ("cmake", "g++") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} to build firmware/core on the host")
    build = REPO / "build" / "test-cache" / f"conformance-{tiny_pipeline.name}"
    build.mkdir(parents=True, exist_ok=True)
    generated = tiny_pipeline / "firmware" / "generated"
    with (build.parent / f"{build.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers share one build
        for cmd in (
            ["cmake", "-S", str(REPO / "firmware"), "-B", str(build),
             "-DCMAKE_BUILD_TYPE=Debug", f"-DKWS_GENERATED_DIR={generated}"],
            ["cmake", "--build", str(build), "--target", "kws_host_device", "-j2"],
        ):  # fmt: skip
            p = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
            assert p.returncode == 0, f"{' '.join(cmd)} failed:\n{p.stdout[-3000:]}{p.stderr}"
    return build / "kws_host_device"


@pytest.fixture(scope="module")
def model(settings) -> dict:
    return json.loads(settings.read_text())


@pytest.fixture(scope="module")
def answers(host_device, settings, model) -> Iterator[tuple[dict, dict]]:
    fe = model["frontend"]
    clip_bytes = 2 * fe["sample_rate"] * fe["clip_duration_ms"] // 1000
    cases = script(feature_bytes(model), clip_bytes)
    yield cpp_answers(host_device, cases), virtual_answers(settings, cases)


@pytest.fixture(scope="module")
def safe_answers(host_device, settings, model, tmp_path_factory) -> tuple[dict, dict]:
    """Both booted into safe mode by a model over the board's arena budget."""
    boards = yaml.safe_load(BOARDS_FILE.read_text())
    boards[BOARD]["arena_budget_bytes"] = 1024
    small = tmp_path_factory.mktemp("conformance") / "boards.yaml"
    small.write_text(yaml.safe_dump(boards))
    detail = f"arena:{model['model']['tensor_arena_size']}>1024"
    cases = safe_mode_script(feature_bytes(model))
    cpp = cpp_answers(host_device, cases, ("--boot-error", "budget", "--detail", detail))
    return cpp, virtual_answers(settings, cases, ("--boards-file", str(small)))


def test_both_devices_answer_every_input_alike(answers):
    assert_alike(*answers)


def test_both_devices_answer_alike_in_safe_mode(safe_answers):
    cpp, virtual = safe_answers
    assert_alike(cpp, virtual)
    assert cpp["banner"][0].startswith("e-boot reason=budget detail=arena:")
    assert cpp["ours: labels"] == ["e-not-ready reason=budget", "m-ready"]


def test_the_script_exercises_the_error_table(answers):
    # guards the comparison against a script that no longer reaches the errors it names
    cpp, _ = answers
    lines = {line.split(" ")[0].split("[")[0] for got in cpp.values() for line in got}
    errors = {"e-unknown-command", "e-line-too-long", "e-bad-char", "e-bad-args", "e-length"}
    assert errors | {"e-crc", "e-timeout", "e-not-ready", "e-"} <= lines
    # an infer payload is one feature slice set: 49 frames x 40 channels = 1960 int8 bytes
    assert cpp["ours: infer, wrong length"] == ["e-length cmd=infer got=5 want=1960", "m-ready"]
    assert cpp["ours: timeout"] == ["e-timeout got=10 want=1960", "m-ready"]
    assert cpp["mlperf: db without load"] == ["e-[No 'db load' in progress]", "m-ready"]
    assert cpp["mlperf: db, completes"] == ["m-load-done", "m-ready"]
    assert cpp["mlperf: db, 124 digits"] == ["m-load-done", "m-ready"]
    assert cpp["reset"][0] == "m-reset" and cpp["reset"][2].startswith("m-boot ")
