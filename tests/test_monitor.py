"""Monitoring without a board: drift figures (ml/drift.py), telemetry deltas and resets
(hil/telemetry.py), the monitor stage's report and `--check` (ml/monitor.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from hil import telemetry
from ml import drift, monitor
from ml.params import load_params

REPO = Path(__file__).resolve().parents[1]
LABELS = ["_silence_", "_unknown_", "yes", "no"]


def stats(uptime: int, inferences: int, hist: list[int], yes: int = 0) -> dict:
    return {
        "uptime_ms": str(uptime),
        "inferences": str(inferences),
        "errors": "0",
        "crc_errors": "0",
        "timeouts": "0",
        "detections": {"yes": yes, "no": 0},
        "hist": hist,
    }


IDENT = {"board": "esp32", "fw": "1.0", "model_sha256": "ab" * 32}


def test_distribution_counts_as_the_firmware_does() -> None:
    scores = np.array([[-128, -128, 100, -128], [10, 0, -5, -128], [-128, -100, -128, -128]])
    d = drift.distribution(scores, LABELS, threshold=200)
    # top scores 100 -> bin 14, 10 -> bin 8, -100 -> bin 1; only "yes" at 100+128 >= 200
    assert d["hist"][14] == 1 and d["hist"][8] == 1 and d["hist"][1] == 1
    assert sum(d["hist"]) == 3 and d["inferences"] == 3
    assert d["detections"] == {"yes": 1, "no": 0}


def test_psi_and_chi_square_see_a_shift_and_not_a_copy() -> None:
    ref = np.array([0, 0, 5, 10, 20, 40, 100, 300, 500], float)
    assert drift.psi(ref * 3, ref) < 0.01  # only the smoothing's pseudo-counts differ
    assert drift.chi2_p(ref * 3, ref)[1] > 0.99
    assert drift.psi(ref + np.eye(len(ref))[-1], ref) < 0.01  # one more clip in a bin
    shifted = ref[::-1].copy()
    assert drift.psi(shifted, ref) > 1.0
    assert drift.chi2_p(shifted, ref)[1] < 1e-6


def test_telemetry_deltas_and_resets(tmp_path: Path) -> None:
    h0, h1 = [0] * 16, [0] * 16
    h0[3], h1[3] = 4, 10
    r1 = telemetry.record("b1", "p", ident=IDENT, stats=stats(1000, 4, h0, yes=1), last=None, now=0)
    assert r1["first"] and not r1["reset"] and r1["delta"]["inferences"] == 4
    telemetry.append(tmp_path, r1)
    last = telemetry.last_record(tmp_path, "b1")
    r2 = telemetry.record(
        "b1", "p", ident=IDENT, stats=stats(2000, 10, h1, yes=3), last=last, now=60
    )
    assert not r2["reset"] and r2["delta"]["inferences"] == 6
    assert r2["delta"]["hist"][3] == 6 and r2["delta"]["detections"]["yes"] == 2
    # uptime went down: the board restarted; the delta is everything since its boot
    r3 = telemetry.record("b1", "p", ident=IDENT, stats=stats(500, 2, h0), last=r2, now=120)
    assert r3["reset"] and r3["delta"]["inferences"] == 2 and r3["delta"]["hist"][3] == 4
    # a counter went down with a higher uptime (a reboot between polls): a reset too
    r4 = telemetry.record("b1", "p", ident=IDENT, stats=stats(9000, 1, h0), last=r2, now=180)
    assert r4["reset"]
    # another model: counted from zero as well
    other = {**IDENT, "model_sha256": "cd" * 32}
    r5 = telemetry.record("b1", "p", ident=other, stats=stats(3000, 12, h1), last=r2, now=240)
    assert r5["reset"] and r5["delta"]["inferences"] == 12
    path = telemetry.append(tmp_path, r2)
    assert path == tmp_path / "b1" / "1970-01-01.jsonl"
    assert len(path.read_text().splitlines()) == 2


def write_store(
    store: Path, board: str, hist: list[int], yes: int, day: str = "2026-11-30"
) -> None:
    rec = {
        "board": board,
        "time": f"{day}T10:00:00+00:00",
        "reset": False,
        "delta": {"inferences": sum(hist), "hist": hist, "detections": {"yes": yes, "no": 0}},
    }
    (store / board).mkdir(parents=True, exist_ok=True)
    with (store / board / f"{day}.jsonl").open("a") as f:
        f.write(json.dumps(rec) + "\n")


def reference_file(tmp_path: Path, hist: list[int], yes: int) -> Path:
    ref = {"inferences": sum(hist), "hist": hist, "detections": {"yes": yes, "no": 0}}
    path = tmp_path / "reference.json"
    path.write_text(json.dumps({"references": {"test": ref, "stream": ref}}))
    return path


def run_monitor(tmp_path: Path, store: Path, ref: Path) -> subprocess.CompletedProcess:
    out = tmp_path / "monitor.json"
    args = ["--telemetry", str(store), "--reference", str(ref), "--metrics", str(out)]
    res = subprocess.run(
        [sys.executable, "-m", "ml.monitor", *args, "--plots", str(tmp_path / "plots")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "plots/drift.png").stat().st_size > 1000
    return subprocess.run(
        [sys.executable, "-m", "ml.monitor", "--check", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_monitor_check_passes_on_the_reference_and_names_a_drifting_board(tmp_path: Path) -> None:
    hist = [0, 0, 2, 5, 10, 20, 20, 10, 5, 5, 5, 10, 20, 30, 40, 20]
    ref = reference_file(tmp_path, hist, yes=60)
    store = tmp_path / "telemetry"
    write_store(store, "kitchen", [2 * v for v in hist], yes=120)
    write_store(store, "idle", [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], yes=0)
    res = run_monitor(tmp_path, store, ref)
    assert res.returncode == 0, res.stderr
    assert "no drift" in res.stdout
    report = json.loads((tmp_path / "monitor.json").read_text())
    assert report["per_board"]["kitchen"]["hist"]["psi"] < 0.01
    assert report["per_board"]["idle"]["judged"] is False  # 1 inference < min_inferences

    shifted = [40, 30, 30, 30, 20, 20, 10, 5, 5, 5, 5, 0, 0, 0, 0, 0]
    write_store(store, "garage", shifted, yes=0)
    res = run_monitor(tmp_path, store, ref)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: drift: board garage: distribution hist vs reference test: ")
    assert "psi " in lines[0] and "> monitor.max_psi 0.25" in lines[0]
    assert "and 1 more" in lines[0]  # its labels drifted too


def test_monitor_window_keeps_the_last_days(tmp_path: Path) -> None:
    hist = [0, 0, 2, 5, 10, 20, 20, 10, 5, 5, 5, 10, 20, 30, 40, 20]
    ref = reference_file(tmp_path, hist, yes=60)
    store = tmp_path / "telemetry"
    write_store(store, "b", [200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0, "2026-10-01")
    write_store(store, "b", hist, 60, "2026-11-30")
    params = load_params(REPO / "params.yaml")
    metrics, _ = monitor.report(store, ref, params)
    assert metrics["per_board"]["b"]["inferences"] == sum(hist)  # October is out of the window
    assert not metrics["per_board"]["b"]["drift"]
    params["monitor"]["window_days"] = 0
    metrics, _ = monitor.report(store, ref, params)
    assert metrics["per_board"]["b"]["drift"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not a JSON line"),
        ('{"time": "2026-11-30T00:00:00", "delta": {"hist": [1]}}', "no 'delta' with hist[16]"),
        ('{"delta": {"hist": [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0], "detections": {}}}', "'time'"),
    ],
)
def test_bad_telemetry_line_is_one_error_naming_file_and_line(
    tmp_path: Path, line: str, message: str
) -> None:
    store = tmp_path / "telemetry"
    (store / "b").mkdir(parents=True)
    (store / "b" / "2026-11-30.jsonl").write_text(line + "\n")
    with pytest.raises(monitor.MonitorError, match=re.escape(message)) as exc:
        monitor.read_store(store)
    assert str(exc.value).startswith(f"{store / 'b' / '2026-11-30.jsonl'}:1: ")


def test_params_monitor_section_is_validated(tmp_path: Path) -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["monitor"]["reference"] = "train"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    res = subprocess.run(
        [sys.executable, "-m", "ml.monitor", "--check", "x.json", "--params", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode != 0
    assert res.stderr.strip() == (
        f"error: {path}: monitor.reference = 'train' must be one of test, stream"
    )


@pytest.mark.parametrize(
    ("args", "first"),
    [
        (
            ["hil.telemetry", "--board", "esp32", "--port", "/dev/kws-no-such-port"],
            "error: telemetry: esp32 (esp32) on /dev/kws-no-such-port: esp32: cannot open",
        ),
        (
            ["hil.collect", "--board", "esp32", "--port", "/dev/kws-no-such-port"],
            "error: collect: esp32 (esp32) on /dev/kws-no-such-port: esp32: cannot open",
        ),
        (
            ["hil.collect", "--board", "esp32", "--port", "/dev/null", "--band", "5,1"],
            "error: --band '5,1': want LO,HI with -128 <= LO <= HI <= 127, or off",
        ),
    ],
)
def test_telemetry_and_collect_fail_in_one_line_naming_the_board(
    tmp_path: Path, args: list[str], first: str
) -> None:
    out = ["--store" if "telemetry" in args[0] else "--out", str(tmp_path / "out")]
    res = subprocess.run(
        [sys.executable, "-m", *args, *out],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert res.returncode == 1
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert res.stderr.startswith(first), res.stderr
    assert not (tmp_path / "out").exists()  # nothing half-written
