"""The per-board table `make hil-virtual` prints, and a virtual board that cannot start."""

from __future__ import annotations

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
