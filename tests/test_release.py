"""`make release` / `make rollback` locally: the tiny model, registered as MLflow `candidate`,
goes to virtual staging then production boards; their `id` reports the released sha256,
the aliases follow, SHA256SUMS verifies; a model that is not the candidate, a failed gate
or a bad tag is refused; a rollback restores erased production boards."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TAG = "v0.1.0"


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True,
        check=False, timeout=900,
    )  # fmt: skip


@pytest.fixture
def world(tmp_path: Path, tiny_pipeline: Path) -> dict[str, object]:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "KWS_RELEASES_DIR": str(tmp_path / "releases"),
        "KWS_VBOARDS_DIR": str(tmp_path / "vboards"),
    }
    for k in [k for k in env if k.startswith(("HIL_PORT_", "GITHUB_"))]:
        env.pop(k)
    t = tiny_pipeline
    reg = run(env, "ml.register", "--int8", str(t / "build/model/model_int8.tflite"),
              "--firmware", str(t / "firmware/generated"), "--out", str(tmp_path / "reg.json"),
              "--metrics", str(t / "metrics/evaluate.json"),
              "--data-report", str(t / "reports/data.json"), "--plots", str(t / "metrics/plots"),
              "--params", str(t / "params.yaml"))  # fmt: skip
    assert reg.returncode == 0, reg.stderr
    model = tmp_path / "model"
    col = run(env, "ml.release", "collect", "--generated", str(t / "firmware/generated"),
              "--vectors", str(t / "hil/vectors"), "--params", str(t / "params.yaml"),
              "--metrics", str(t / "metrics"), "--out", str(model))  # fmt: skip
    assert col.returncode == 0, col.stderr
    sha = hashlib.sha256((t / "build/model/model_int8.tflite").read_bytes()).hexdigest()
    return {"env": env, "model": model, "tmp": tmp_path, "sha": sha}


def board_id(w: dict, stage: str, board: str) -> dict[str, str]:
    done = run(
        w["env"], "hil.virtual.slot", "id", "--dir", str(w["tmp"] / "vboards" / f"{stage}-{board}")
    )
    assert done.returncode == 0, done.stderr
    return dict(tok.split("=", 1) for tok in done.stdout.split() if "=" in tok)


def aliases(w: dict) -> dict[str, str]:
    code = (
        "import json; from mlflow import MlflowClient; c = MlflowClient();"
        "m = c.get_registered_model('kws'); print(json.dumps({a: c.get_model_version('kws', v)"
        ".tags['model_sha256'] for a, v in m.aliases.items()}))"
    )
    done = subprocess.run([sys.executable, "-c", code], env=w["env"], capture_output=True,
                          text=True, check=True)  # fmt: skip
    return json.loads(done.stdout)


def release(w: dict, model: Path, tag: str = TAG) -> subprocess.CompletedProcess:
    out, results = str(w["tmp"] / "release"), str(w["tmp"] / "results")
    return run(w["env"], "ml.release", "local", "--tag", tag, "--model", str(model),
               "--out", out, "--results", results)  # fmt: skip


@pytest.mark.slow
def test_release_then_rollback_on_virtual_boards(world):
    w = world
    done = release(w, w["model"])
    assert done.returncode == 0, done.stderr[-3000:]
    for stage in ("staging", "production"):
        for board in ("esp32", "nano33ble"):
            assert board_id(w, stage, board)["model_sha256"] == w["sha"]
    assert aliases(w)["staging"] == aliases(w)["production"] == w["sha"]
    bundle = w["tmp"] / "releases" / TAG
    check = ["sha256sum", "-c", "--quiet", "SHA256SUMS"]
    assert subprocess.run(check, cwd=bundle, check=False).returncode == 0
    assert {"model_int8.tflite", "model_card.md", "release.json"} <= {
        p.name for p in bundle.iterdir()
    }

    # production drifts (boards erased), then the rollback puts the release back
    for board in ("esp32", "nano33ble"):
        slot = w["tmp"] / "vboards" / f"production-{board}"
        er = run(w["env"], "hil.virtual.slot", "flash", "--erase", "--port", str(slot / "port"))
        assert er.returncode == 0, er.stderr
        assert board_id(w, "production", board)["model_sha256"] != w["sha"]
    rb = run(w["env"], "ml.release", "rollback", "--tag", TAG, "--results", str(w["tmp"] / "rb"))
    assert rb.returncode == 0, rb.stderr[-3000:]
    for board in ("esp32", "nano33ble"):
        assert board_id(w, "production", board)["model_sha256"] == w["sha"]
    assert aliases(w)["production"] == w["sha"]


def test_refuses_a_model_that_is_not_the_candidate(world):
    w = world
    other = w["tmp"] / "other"
    shutil.copytree(w["model"], other)
    settings_path = other / "generated/model_settings.json"
    settings = json.loads(settings_path.read_text())
    tflite = other / "generated" / settings["model"]["file"]
    blob = bytearray(tflite.read_bytes())
    blob[-1] ^= 1
    tflite.write_bytes(bytes(blob))
    settings["model"]["sha256"] = hashlib.sha256(blob).hexdigest()
    settings_path.write_text(json.dumps(settings))
    done = release(w, other)
    assert done.returncode == 1
    assert "differs from MLflow 'candidate'" in done.stderr
    assert not (w["tmp"] / "release" / TAG).exists()


def test_refuses_when_a_gate_fails(world):
    w = world
    metrics_path = w["model"] / "metrics/evaluate.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["esp32"]["fits"] = False
    metrics_path.write_text(json.dumps(metrics))
    done = release(w, w["model"])
    assert done.returncode == 1
    assert "quality gates failed: budget.esp32" in done.stderr


def test_refuses_a_bad_tag(world):
    done = release(world, world["model"], tag="0.1")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "error: TAG '0.1': not a release tag like v1.2.3"
