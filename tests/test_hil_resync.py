"""A board left mid-line (esptool's sync bytes have no newline; a session cut mid-command)
is resynchronized by the client (a bare newline, then `id`), not reported as hung or
refusing: by the client alone and by the pytest-embedded suite."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import serial

from hil.client import BoardError, Client
from hil.run_virtual import VirtualBoard

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
# esptool's SYNC request as it goes on the wire: a SLIP frame, no newline
ESPTOOL_SYNC = b"\xc0\x00\x08\x24\x00\x00\x00\x00\x00\x07\x07\x12\x20" + b"\x55" * 32 + b"\xc0"


@pytest.fixture(scope="module")
def settings(tiny_pipeline):
    return tiny_pipeline / "firmware/generated/model_settings.json"


@pytest.fixture(scope="module")
def vb(settings):
    """One board for the module (each test leaves it in step for the next)."""
    with VirtualBoard("esp32", settings) as board:
        yield board


def leave_garbage(port: str, data: bytes = ESPTOOL_SYNC) -> None:
    with serial.serial_for_url(port, baudrate=115200, timeout=0.1) as s:
        s.write(data)
        s.flush()


def test_garbage_breaks_a_first_command_sent_without_resync(vb):
    """What the resync is for: the board joins the fragment and `id` into one bad line."""
    leave_garbage(vb.port)
    client = Client(vb.port, timeout_s=2.0, name="esp32")
    with pytest.raises(BoardError):
        client.identity()
    client.close()


@pytest.mark.parametrize(
    "garbage", [ESPTOOL_SYNC, b"infer 1960 0000", b"x" * 200], ids=["esptool", "cut", "long"]
)
def test_sync_recovers_a_board_left_mid_line(vb, garbage):
    leave_garbage(vb.port, garbage)
    client = Client(vb.port, timeout_s=2.0, name="esp32")
    assert client.sync()["board"] == "esp32"
    assert client.identity()["board"] == "esp32"  # and the line stays in step
    client.close()


def test_suite_passes_after_garbage_on_the_line(vb, settings, tmp_path):
    vectors = settings.parents[2] / "hil/vectors"
    params = settings.parents[2] / "params.yaml"
    params = params if params.is_file() else REPO / "params.yaml"
    leave_garbage(vb.port)
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "hil/test_smoke.py", "-q", "-p", "no:cacheprovider",
         "--embedded-services", "serial", "--port", vb.port, "--board", "esp32",
         "--settings", str(settings), "--vectors", str(vectors), "--params", str(params),
         "--results", str(tmp_path / "results"), "-W", "ignore::pytest.PytestWarning",
         "--timeout", "120", "--tb=short"],
        capture_output=True, text=True, cwd=REPO, timeout=300, check=False,
        env={**os.environ, "KWS_HIL_LOCK_DIR": str(tmp_path / "locks")},
    )  # fmt: skip
    assert p.returncode == 0, p.stdout[-3000:]
    junit = ET.parse(tmp_path / "results/esp32/junit.xml").getroot()
    names = [case.get("name") for case in junit.iter("testcase")]
    assert names[0] == "test_boot_banner" and len(names) == 4
