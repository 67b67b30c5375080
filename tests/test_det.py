"""ml.det: the recognizer's recall / false-accept trade-off per detection threshold."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ml.det import DetError, parse_thresholds
from ml.fa_stream import Placed, false_accepts
from ml.kw_stream import score_hits

REPO = Path(__file__).resolve().parents[1]
LABELS = ["_silence_", "_unknown_", "yes", "no"]


def test_score_hits_counts_each_keyword_once_within_its_window() -> None:
    # 16 samples per ms: "yes" at 0-1000 ms, an unknown word at 2000-3000 ms, "no" at
    # 4000-5000 ms; the tolerance is 500 ms after a keyword's end.
    placed = [Placed(0, 16000, 2), Placed(32000, 16000, 1), Placed(64000, 16000, 3)]
    found = [
        (900, "yes"),  # hit
        (1400, "yes"),  # the same keyword again: an error
        (2500, "yes"),  # on the unknown word: an error
        (5400, "no"),  # hit, inside the tolerance
    ]
    assert score_hits(found, placed, LABELS, 16000, 500) == (2, 2, 2)
    # a wrong label is an error, and the keyword is missed; after the tolerance: missed
    assert score_hits([(500, "no"), (5600, "no")], placed, LABELS, 16000, 500) == (2, 0, 2)


def test_parse_thresholds() -> None:
    assert parse_thresholds("150:170:10") == [150, 160, 170]
    assert parse_thresholds("200,180,200") == [180, 200]
    for bad in ("1:2", "a,b", "200:100:5", "0:300:50", "10:20:0", ""):
        with pytest.raises(DetError, match="--thresholds"):
            parse_thresholds(bad)


def _det(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml.det", *args], cwd=cwd, capture_output=True, text=True,
        check=False, timeout=600,
    )  # fmt: skip


def test_bad_model_is_one_line(tmp_path: Path) -> None:
    res = _det("--data", str(tmp_path), "--model", "nameonly")
    assert res.returncode == 1
    assert res.stderr.strip() == "error: --model nameonly: expected NAME=PATH"
    missing = tmp_path / "none.tflite"
    res = _det("--data", str(tmp_path), "--model", f"m={missing}")
    assert res.returncode == 1
    assert res.stderr.strip() == f"error: --model m: {missing}: No such file or directory"


@pytest.mark.slow
def test_sweep_on_the_tiny_pipeline(tiny_pipeline: Path, tmp_path: Path) -> None:
    ws = tiny_pipeline
    model = ws / "build/model/model_int8.tflite"
    data = ws / "data/speech_commands"
    out = tmp_path / "det"
    res = _det(
        "--data", str(data), "--params", str(ws / "params.yaml"), "--model", f"tiny={model}",
        "--thresholds", "60,120", "--out", str(out),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    report = json.loads((out / "det.json").read_text())
    params = yaml.safe_load((ws / "params.yaml").read_text())
    current = params["recognizer"]["detection_threshold"]
    rows = {r["threshold"]: r for r in report["sweep"]["tiny"]}
    assert sorted(rows) == sorted({60, 120, current})  # the params' threshold is always swept
    for threshold, row in rows.items():
        assert 0 < row["keywords"] and 0 <= row["hits"] <= row["keywords"]
        # the non-keyword stream is evaluate's: the same false accepts as evaluate counts
        at = copy.deepcopy(params)
        at["recognizer"]["detection_threshold"] = threshold
        assert row["false_accepts"] == false_accepts(model.read_bytes(), data, at)["false_accepts"]
    assert rows[60]["false_accepts"] > 0  # the check above compared detections, not zeros
    assert (out / "det.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"| {current} (params) |" in (out / "det.md").read_text()
