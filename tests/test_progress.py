"""ml.progress: plain progress lines when stderr is not a terminal (logs, CI)."""

from __future__ import annotations

import logging

import pytest

from ml.progress import LogProgress, progress


def test_log_progress_writes_a_line_every_20_percent(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="progress")
    seen = list(progress(range(10), desc="features", unit="clip"))
    assert seen == list(range(10))
    assert [r.getMessage() for r in caplog.records] == [
        "features: 20% (2/10 clip)",
        "features: 40% (4/10 clip)",
        "features: 60% (6/10 clip)",
        "features: 80% (8/10 clip)",
        "features: 100% (10/10 clip)",
    ]
    assert all("\r" not in r.getMessage() for r in caplog.records)


def test_manual_updates_and_disabled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="progress")
    with progress(total=4, desc="stream", unit="inf") as bar:
        assert isinstance(bar, LogProgress)
        bar.update(3)
        bar.update(1)
    assert [r.getMessage() for r in caplog.records] == [
        "stream: 75% (3/4 inf)",
        "stream: 100% (4/4 inf)",
    ]
    caplog.clear()
    assert list(progress([1, 2], desc="off", enabled=False)) == [1, 2]
    assert caplog.records == []
