"""Each injected fault of the virtual board ends in its own named failure, never a hang,
and the port lock is free afterwards."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import serial

from hil.client import BoardDisconnected, BoardReset, Client
from hil.lock import is_busy
from hil.run_virtual import VirtualBoard
from tests.fault_cases import TIMEOUT_S, assert_fault_named, fault_cases

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(tiny_pipeline):
    settings = tiny_pipeline / "firmware/generated/model_settings.json"
    vectors = tiny_pipeline / "hil/vectors"
    with np.load(vectors / "features.npz") as z:
        return settings, z["x"][0]


@pytest.fixture(autouse=True)
def _lock_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KWS_HIL_LOCK_DIR", str(tmp_path / "locks"))


FAULTS = fault_cases("esp32")


@pytest.mark.parametrize(("fault", "error", "message"), FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_is_named_and_lock_released(model, fault, error, message):
    settings, x = model
    with VirtualBoard("esp32", settings, ["--fault", fault, "--fault-after", "1"]) as vb:
        assert_fault_named(vb.port, "esp32", x, (fault, error, message))


def test_reset_fault_fires_once_then_board_serves_again(model):
    settings, _ = model
    with VirtualBoard("esp32", settings, ["--fault", "reset", "--fault-after", "0"]) as vb:
        client = Client(vb.port, timeout_s=TIMEOUT_S, name="esp32")
        with pytest.raises(BoardReset):
            client.identity()
        assert client.identity()["board"] == "esp32"
        assert int(client.stats()["inferences"]) == 0  # counters restarted at the reboot


class _DeadPort:
    """A pyserial stand-in whose device vanished (as a USB board being re-enumerated)."""

    in_waiting = 0
    timeout = 0.0

    def write(self, data):
        raise serial.SerialException("write failed: [Errno 5] Input/output error")

    def read(self, n):
        raise serial.SerialException("device reports readiness to read but returned no data")

    def flush(self):
        pass

    def close(self):
        pass


def test_one_reconnect_on_a_lost_port(model):
    settings, _ = model
    with VirtualBoard("esp32", settings) as vb:
        client = Client(vb.port, timeout_s=TIMEOUT_S, stream=_DeadPort(), name="esp32")
        assert client.identity()["board"] == "esp32"  # reopened vb.port, sent again
        assert client.reconnects == 1
        client.stream = _DeadPort()
        with pytest.raises(BoardDisconnected, match=r"lost again during 'id'$"):
            client.identity()


def test_suite_on_a_hanging_board_fails_fast_and_frees_the_port(model, tmp_path, monkeypatch):
    """The pytest-embedded path: a hung board fails the smoke tests by name, never hangs."""
    import subprocess
    import sys

    import yaml

    settings, _ = model
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["hil"]["command_timeout_s"] = 1.0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    vectors = settings.parents[2] / "hil/vectors"
    with VirtualBoard("esp32", settings, ["--fault", "hang", "--fault-after", "2"]) as vb:
        t = time.monotonic()
        p = subprocess.run(
            [sys.executable, "-m", "pytest", "hil/test_smoke.py", "-q", "-p", "no:cacheprovider",
             "-k", "identity or golden_vector or latency", "--embedded-services", "serial",
             "--port", vb.port, "--board", "esp32", "--settings", str(settings),
             "--vectors", str(vectors), "--params", str(tmp_path / "params.yaml"),
             "--results", str(tmp_path / "results"), "-W", "ignore::pytest.PytestWarning",
             "--tb=short"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert time.monotonic() - t < 120
        assert p.returncode == 1, p.stdout[-2000:]
        junit = ET.parse(tmp_path / "results/esp32/junit.xml").getroot()
        hung = {
            case.get("name")
            for case in junit.iter("testcase")
            for err in case.iter("error")
            if re.search(
                r"BoardHang: esp32: no answer to '\w+' within 1\.0 s: board hung",
                (err.get("message") or "") + (err.text or ""),
            )
        }
        assert len(hung) == 2, p.stdout[-3000:]  # the two tests after the fault, by name
        assert not is_busy(vb.port)
