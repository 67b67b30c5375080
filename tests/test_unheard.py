"""ml.unheard: the exported model scored on an engine its training data never had."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from ml import tflm
from ml.params import ParamsError, load_params
from ml.unheard import features_of, table, unheard_params

REPO = Path(__file__).resolve().parents[1]


def test_unheard_engines_must_be_unheard() -> None:
    params = load_params(REPO / "params.yaml")
    assert params["transfer"]["unheard"]["kokoro"] > 0 and params["synth"]["engines"]["kokoro"] == 0
    gen = unheard_params(params, "p.yaml")
    assert {e: n for e, n in gen["synth"]["engines"].items() if n} == {"kokoro": 30}
    absent = copy.deepcopy(params)  # an engine params.yaml does not list is unheard too
    del absent["synth"]["engines"]["kokoro"]
    assert unheard_params(absent, "p.yaml")["synth"]["engines"]["kokoro"] == 30
    heard = copy.deepcopy(params)
    heard["transfer"]["unheard"] = {"kokoro": 0, "flite": 5}
    with pytest.raises(ParamsError) as exc:
        unheard_params(heard, "p.yaml")
    assert str(exc.value) == (
        "p.yaml: transfer.unheard.flite: the model trains on flite (synth.engines.flite = 100); "
        "an unheard engine has 0"
    )
    heard["transfer"]["unheard"] = {"kokoro": 0}
    with pytest.raises(ParamsError) as exc:
        unheard_params(heard, "p.yaml")
    assert str(exc.value) == "p.yaml: transfer.unheard gives no speakers"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "ml.unheard", *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900, check=False)


@pytest.mark.slow
def test_scores_the_model_on_generated_speakers(tiny_pipeline: Path, tmp_path: Path) -> None:
    params: dict[str, Any] = yaml.safe_load((tiny_pipeline / "params.yaml").read_text())
    params["transfer"]["unheard"] = {"kokoro": 2}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    model = tiny_pipeline / "build/model/model_int8.tflite"
    out, data = tmp_path / "unheard.json", tmp_path / "data"
    args = ["--model", str(model), "--data", str(data), "--params", str(tmp_path / "params.yaml")]
    res = run(*args, "--out", str(out), "--workers", "2")
    assert res.returncode == 0, res.stderr
    r = json.loads(out.read_text())
    k = r["engines"]["kokoro"]
    assert k["speakers"] == 2 and r["worst_engine"] == "kokoro"
    assert "| engine kokoro (2 speakers) |" in res.stdout

    # the figure is the model's: recomputed here from the same clips with TFLite's interpreter
    gen = unheard_params(load_params(tmp_path / "params.yaml"), "p")
    x, y, names = features_of(data / "speech_commands", gen)
    assert all(n.split("/")[1].startswith("kokoro-") for n in names)
    keywords = y != gen["dataset"]["labels"].index("_unknown_")
    assert k["clips"] == keywords.sum() + min((~keywords).sum(), np.ceil(keywords.sum() * 0.4))
    pred = np.argmax(tflm.run_tflite(model.read_bytes(), x).reshape(len(x), -1), axis=-1)
    kw_recall = {
        lab: float(np.mean(pred[y == i] == i))
        for i, lab in enumerate(gen["dataset"]["labels"])
        if lab in gen["dataset"]["keywords"]
    }
    assert {lab: round(v, 4) for lab, v in kw_recall.items()} == {
        lab: v for lab, v in k["recall"].items() if lab in kw_recall
    }

    # a second run reuses the generated speakers and gives the same figures
    info = (data / "speech_commands/synth_info.json").stat().st_mtime_ns
    res = run(*args, "--out", str(tmp_path / "again.json"))
    assert res.returncode == 0, res.stderr
    assert (data / "speech_commands/synth_info.json").stat().st_mtime_ns == info
    assert json.loads((tmp_path / "again.json").read_text()) == r

    other = tmp_path / "other.tflite"
    other.write_bytes(model.read_bytes() + b"\0")
    assert table(out, other).endswith(f"(stale: {other} changed since; run `make unheard`)")


def test_bad_inputs_are_one_line(tmp_path: Path) -> None:
    res = run("--model", str(tmp_path / "none.tflite"), "--out", str(tmp_path / "u.json"))
    assert res.returncode != 0
    assert res.stderr.strip() == (
        f"error: {tmp_path / 'none.tflite'}: model not found (run `make repro` or `make pull`)"
    )
    assert not (tmp_path / "u.json").exists()
    (tmp_path / "u.json").write_text("{")
    res = run("--show", str(tmp_path / "u.json"))
    assert res.returncode != 0 and res.stderr.count("\n") == 1
    assert res.stderr.startswith(f"error: {tmp_path / 'u.json'}: not valid JSON")
    res = run("--show", str(tmp_path / "missing.json"))
    assert res.returncode == 0
    assert (
        res.stdout.strip() == f"{tmp_path / 'missing.json'}: not computed yet (run `make unheard`)"
    )
