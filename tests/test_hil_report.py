"""The per-board table `make hil-virtual` prints, and a virtual board that cannot start."""

from __future__ import annotations

import json

import pytest

from hil.metrics import record, table, write_metrics
from hil.run_virtual import VirtualBoard
from ml.errors import KwsError


def test_table_has_a_column_per_board_and_dashes_for_missing(tmp_path):
    write_metrics(tmp_path / "esp32/metrics.json", [
        record("agreement", 1.0, "ratio"), record("latency_p95_ms", 88.54, "ms"),
        record("wire_efficiency", 0.934, "ratio"),
    ])  # fmt: skip
    write_metrics(tmp_path / "nano33ble/metrics.json", [record("agreement", 0.995, "ratio")])
    lines = table(tmp_path, ["esp32", "nano33ble"]).splitlines()
    assert lines[0].split() == ["esp32", "nano33ble"]
    rows = {name: cells for name, *cells in (ln.rsplit(None, 2) for ln in lines[1:])}
    assert rows["agreement"] == ["100.00%", "99.50%"]
    assert rows["latency p95 (ms)"] == ["88.54", "-"]
    assert rows["wire efficiency"] == ["93.4%", "-"]
    assert not list(tmp_path.rglob("*.tmp"))  # written atomically


def test_missing_metrics_is_one_line(tmp_path):
    with pytest.raises(KwsError, match=r"^.*esp32/metrics\.json: missing or not a metrics list$"):
        table(tmp_path, ["esp32"])


def test_board_that_cannot_start_is_one_line(tmp_path):
    with pytest.raises(KwsError, match=r"^virtual esp32: did not come up \(exit 1\)$"):
        VirtualBoard("esp32", tmp_path / "missing.json")


def test_estimated_latency_is_labelled_in_json_and_table(tmp_path):
    write_metrics(tmp_path / "esp32/metrics.json", [
        record("latency_p50_ms", 88.54, "ms", estimated=True), record("agreement", 1.0, "ratio"),
    ])  # fmt: skip
    write_metrics(tmp_path / "nano33ble/metrics.json", [record("latency_p50_ms", 151.2, "ms")])
    saved = json.loads((tmp_path / "esp32/metrics.json").read_text())
    assert saved[0] == {"name": "latency_p50_ms", "value": 88.54, "unit": "ms", "estimated": True}
    assert "estimated" not in saved[1]
    lines = table(tmp_path, ["esp32", "nano33ble"]).splitlines()
    row = next(ln for ln in lines if ln.startswith("latency p50 (ms)"))
    assert row.split()[-3:] == ["88.54", "est.", "151.20"]  # measured: no label
    assert lines[-1].startswith("est. = estimated: MACs / (MACs per cycle x clock)")
    measured_only = table(tmp_path, ["nano33ble"]).splitlines()
    assert not any("est." in ln for ln in measured_only)


def test_emulated_figures_are_labelled_and_instructions_shown_only_when_counted(tmp_path):
    write_metrics(tmp_path / "nano33ble/metrics.json", [
        record("latency_p50_ms", 3.5, "ms", emulated=True),
        record("instructions_per_inference", 224000, "count", emulated=True),
    ])  # fmt: skip
    saved = json.loads((tmp_path / "nano33ble/metrics.json").read_text())
    assert saved[0]["emulated"] is True and "estimated" not in saved[0]
    lines = table(tmp_path, ["nano33ble"]).splitlines()
    row = next(ln for ln in lines if ln.startswith("instructions/inference"))
    assert row.split()[-2:] == ["224,000", "emu."]
    assert lines[-1].startswith("emu. = emulated: instructions counted by QEMU (-icount)")
    write_metrics(tmp_path / "esp32/metrics.json", [record("agreement", 1.0, "ratio")])
    assert not any(ln.startswith("instructions/") for ln in table(tmp_path, ["esp32"]).splitlines())
