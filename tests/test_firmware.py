"""Firmware glue that pytest can check fast: the board build script's one-line errors, and
the contracts the C++ core shares with Python (op list, PROTOCOL.md's MLPerf lines).

The C++ core's own tests run under ctest (`make firmware-test`, `make firmware-m4`,
`make fuzz-smoke`); they are not repeated here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ml import budget
from ml.recognizer import RecognizeCommands

ROOT = Path(__file__).resolve().parents[1]
BUILD_BOARD = ROOT / "firmware" / "build_board.sh"
PROTOCOL = ROOT / "firmware" / "PROTOCOL.md"
MLPERF_CC = ROOT / "firmware" / "core" / "mlperf.cc"


def run_build_board(args: list[str], path: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=path)
    bash = shutil.which("bash")
    assert bash
    return subprocess.run(
        [bash, str(BUILD_BOARD), *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    out = tmp_path / "generated"
    out.mkdir()
    (out / "model_settings.h").write_text("// placeholder: only its presence is checked\n")
    return out


@pytest.fixture
def bare_path(tmp_path: Path) -> str:
    """A PATH with the shell tools the script needs but neither idf.py nor arduino-cli."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("dirname", "python3"):
        found = shutil.which(tool)
        assert found, tool
        (bindir / tool).symlink_to(found)
    return str(bindir)


def test_esp32_without_idf_names_the_tool(generated: Path, bare_path: str, tmp_path: Path) -> None:
    r = run_build_board(["esp32", str(generated), str(tmp_path / "out")], bare_path)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "error: idf.py not found: install ESP-IDF v5.x (docs.espressif.com/projects/esp-idf, "
        "'Get Started') and run '. $IDF_PATH/export.sh'"
    ]


def test_nano_without_arduino_cli_names_the_tool(
    generated: Path, bare_path: str, tmp_path: Path
) -> None:
    r = run_build_board(["nano33ble", str(generated), str(tmp_path / "out")], bare_path)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "error: arduino-cli not found: install it (arduino.github.io/arduino-cli, "
        "'Installation'), then 'arduino-cli core install arduino:mbed_nano' and "
        "'arduino-cli lib install Arduino_TensorFlowLite'"
    ]


def test_missing_generated_headers(bare_path: str, tmp_path: Path) -> None:
    r = run_build_board(["esp32", str(tmp_path / "none"), str(tmp_path / "out")], bare_path)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"error: {tmp_path / 'none'}/model_settings.h missing: run 'make repro' (or 'make tiny')"
    ]


def test_unknown_board(generated: Path, bare_path: str, tmp_path: Path) -> None:
    r = run_build_board(["stm32", str(generated), str(tmp_path / "out")], bare_path)
    assert r.returncode == 2
    assert r.stderr.splitlines() == ["error: unknown board 'stm32' (esp32, nano33ble)"]


def test_supported_ops_def_is_read_by_budget() -> None:
    """One X-macro list for the firmware's resolver and ml/budget.py's gate."""
    text = (ROOT / "firmware" / "core" / "supported_ops.def").read_text()
    macro_ops = re.findall(r"^KWS_OP\((\w+), Add\w+\)$", text, flags=re.M)
    assert macro_ops and budget.supported_ops() == macro_ops


def test_protocol_mlperf_errors_match_the_firmware() -> None:
    """Every MLPerf error line PROTOCOL.md lists is one the core prints, word for word."""
    section = PROTOCOL.read_text().split("### MLPerf errors", 1)[1].split("###", 1)[0]
    lines = re.findall(r"^\| `e-\[([^`<\]]+)", section, flags=re.M)
    assert len(lines) >= 10
    source = MLPERF_CC.read_text()
    for line in lines:
        assert line in source, line


@pytest.fixture(scope="module")
def recognizer_replay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """firmware/core's recognizer as a host program (compiled here: no CMake build needed)."""
    cxx = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("needs a host C++ compiler (c++/g++/clang++)")
    core = ROOT / "firmware" / "core"
    exe = tmp_path_factory.mktemp("replay") / "recognizer_replay"
    subprocess.run(
        [
            cxx,
            "-std=c++17",
            "-O1",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{core}",
            "-o",
            str(exe),
            str(core / "recognizer.cc"),
            str(core / "tests" / "recognizer_replay.cc"),
        ],
        check=True,
        timeout=120,
    )
    return exe


def test_recognizer_matches_python(recognizer_replay: Path) -> None:
    """The C++ recognizer decides exactly as ml/recognizer.py on random score streams."""
    labels = ["_silence_", "_unknown_", "yes", "no", "up"]
    config = {
        "average_window_ms": 500,
        "detection_threshold": 180,
        "suppression_ms": 700,
        "minimum_count": 3,
    }
    rng = np.random.default_rng(0)
    rows = []
    t = 0
    hot = 2
    for _ in range(2000):
        t += int(rng.integers(0, 120))  # repeats (equal times) included
        if rng.random() < 0.1:  # words last several results, as in a real stream
            hot = int(rng.integers(0, len(labels)))
        scores = rng.integers(-128, 0, size=len(labels))
        scores[hot] = rng.integers(0, 128)
        rows.append((t, scores.astype(np.int8)))
    header = " ".join(str(config[k]) for k in config) + " " + " ".join(labels)
    stdin = header + "\n" + "\n".join(f"{t} " + " ".join(map(str, s)) for t, s in rows) + "\n"
    out = subprocess.run(
        [str(recognizer_replay)],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    py = RecognizeCommands(labels, config)
    want = []
    for t, s in rows:
        d = py.process(s, t)
        decided = d.label is not None
        top = labels.index(d.label) if decided else -1
        want.append(f"{int(decided)} {top} {d.score} {int(d.is_new_command)}")
    assert sum(line.endswith(" 1") for line in want) > 5  # the stream does detect
    assert out == want
