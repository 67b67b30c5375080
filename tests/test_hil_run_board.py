"""`make hil` (hil.run_board) on a virtual board standing in for a real one: one port lock
from before flashing to the end of both suites (a second job cannot flash in between), and
FLASH=0 tests the board as it is."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hil.lock import is_busy, lock_dir
from hil.run_virtual import VirtualBoard

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
# a flash tool that records whether the port was locked while it ran, then succeeds
ESPTOOL_OK = """#!/bin/sh
echo "$@" >> "$STUB_LOG"
"$STUB_PYTHON" -c 'import sys; from hil.lock import is_busy; print(is_busy(sys.argv[1]))' \
  "$2" >> "$STUB_LOG.busy"
echo "Hash of data verified."
"""


@pytest.fixture(scope="module")
def pipeline(tiny_pipeline):
    return tiny_pipeline


def run_board(pipeline: Path, tmp_path: Path, port: str, *extra: str) -> subprocess.Popen:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / "esptool"
    tool.write_text(ESPTOOL_OK)
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    params = pipeline / "params.yaml"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STUB_LOG": str(tmp_path / "calls.log"),
        "STUB_PYTHON": sys.executable,
        "PYTHONPATH": str(REPO),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "hil.run_board", "--board", "esp32", "--port", port,
         "--generated", str(pipeline / "firmware/generated"),
         "--vectors", str(pipeline / "hil/vectors"),
         "--params", str(params if params.is_file() else REPO / "params.yaml"),
         "--results", str(tmp_path / "results"), *extra],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_one_lock_across_flash_and_both_suites(pipeline, tmp_path, monkeypatch):
    monkeypatch.setenv("KWS_HIL_LOCK_DIR", str(tmp_path / "locks"))
    image = tmp_path / "fw.bin"
    image.write_bytes(b"\xe9" + bytes(255))
    with VirtualBoard("esp32", pipeline / "firmware/generated/model_settings.json") as vb:
        job = run_board(pipeline, tmp_path, vb.port, "--image", str(image))
        holders, rival = set(), None
        deadline = time.monotonic() + 600
        while job.poll() is None and time.monotonic() < deadline:
            for info in lock_dir().glob("*.holder.json"):
                try:
                    h = json.loads(info.read_text())
                except (OSError, ValueError):
                    continue  # being replaced
                holders.add((h["pid"], h["test"].split("::")[0]))
                if rival is None and h["test"].startswith("hil/test_"):
                    # another job tries to flash the board while the suites run
                    rival = subprocess.run(
                        [sys.executable, "-m", "hil.flash", "--board", "esp32",
                         "--port", vb.port, "--image", str(image), "--lock-timeout", "0"],
                        capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
                    )  # fmt: skip
            time.sleep(0.05)
        out, err = job.communicate(timeout=60)
        assert job.returncode == 0, err[-3000:]
        assert not is_busy(vb.port)  # released at the end
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert len(calls) == 1 and f"--port {vb.port} --baud 921600" in calls[0]
    assert (tmp_path / "calls.log.busy").read_text().split() == ["True"]  # locked while flashing
    # every holder seen was the make-hil process, first flashing, then in both suites
    assert {pid for pid, _ in holders} == {job.pid}, holders
    assert {"make hil esp32", "hil/test_smoke.py", "hil/test_acceptance.py"} <= {
        t for _, t in holders
    }, holders
    assert rival is not None and rival.returncode == 1
    assert (
        rival.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: {vb.port}: still held by pid {job.pid} ")
    )
    junit = ET.parse(tmp_path / "results/esp32/junit.xml").getroot()
    assert int(junit.find("testsuite").get("tests")) == 12  # smoke + acceptance + MLPerf
    assert "latency p50 (ms)" in out and " est." in out  # the virtual board's table


def test_flash_0_tests_the_board_as_it_is(pipeline, tmp_path, monkeypatch):
    monkeypatch.setenv("KWS_HIL_LOCK_DIR", str(tmp_path / "locks"))
    with VirtualBoard("esp32", pipeline / "firmware/generated/model_settings.json") as vb:
        job = run_board(
            pipeline, tmp_path, vb.port, "--no-flash", "--image", str(tmp_path / "none.bin")
        )
        _, err = job.communicate(timeout=600)
    assert job.returncode == 0, err[-3000:]
    assert not (tmp_path / "calls.log").exists()  # no flash tool ran, no image needed
    assert "FLASH=0: testing the firmware already on" in err


def test_missing_image_names_the_build_command_before_locking(tmp_path, monkeypatch, pipeline):
    monkeypatch.setenv("KWS_HIL_LOCK_DIR", str(tmp_path / "locks"))
    job = run_board(pipeline, tmp_path, "/dev/ttyFAKE", "--image", str(tmp_path / "none.bin"))
    _, err = job.communicate(timeout=120)
    assert job.returncode == 1
    assert err.strip().splitlines() == [
        f"error: {tmp_path / 'none.bin'}: firmware image not found "
        "(build it with `make firmware BOARD=esp32`)"
    ]
