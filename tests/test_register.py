"""ml/register.py against a real `mlflow server` on 127.0.0.1, and against a dead one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
MLFLOW = Path(sys.executable).parent / "mlflow"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def register_cmd(tiny: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "ml.register",
        "--int8", str(tiny / "build/model/model_int8.tflite"),
        "--firmware", str(tiny / "firmware/generated"),
        "--out", str(out),
        "--metrics", str(tiny / "metrics/evaluate.json"),
        "--data-report", str(tiny / "reports/data.json"),
        "--plots", str(tiny / "metrics/plots"),
        "--params", str(tiny / "params.yaml"),
    ]  # fmt: skip


def run(cmd: list[str], uri: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, check=False
    )


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """`mlflow server` on a free 127.0.0.1 port with a sqlite backend in tmp_path."""
    if not MLFLOW.is_file():
        pytest.skip(f"needs the mlflow CLI at {MLFLOW}")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [str(MLFLOW), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300  # a loaded 2-core machine starts it in ~80 s
        while True:
            try:
                with urllib.request.urlopen(uri + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()}")
            time.sleep(0.5)
        yield uri
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its uvicorn worker
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@pytest.mark.slow
def test_register_on_a_real_server(tiny_pipeline: Path, mlflow_server: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    work = tmp_path / "work"
    work.mkdir()
    res = run(register_cmd(tiny_pipeline, work / "registry.json"), mlflow_server, work)
    assert res.returncode == 0, res.stderr
    info = json.loads((work / "registry.json").read_text())
    settings = json.loads((tiny_pipeline / "firmware/generated/model_settings.json").read_text())
    assert info["version"] == 1
    assert info["alias"] == "candidate"
    assert info["model_uri"] == "models:/kws/1"
    assert info["tracking_uri"] == mlflow_server
    assert info["model_sha256"] == settings["model"]["sha256"]

    client = MlflowClient(mlflow_server)
    version = client.get_model_version_by_alias("kws", "candidate")
    assert version.version == "1"
    assert version.run_id == info["run_id"]
    assert version.tags == {
        "git_sha": info["git_sha"],
        "data_hash": settings["provenance"]["data_hash"],
        "params_hash": settings["provenance"]["params_hash"],
        "model_sha256": settings["model"]["sha256"],
    }
    run_ = client.get_run(info["run_id"])
    params = yaml.safe_load((tiny_pipeline / "params.yaml").read_text())
    assert run_.data.params["train.epochs"] == str(params["train"]["epochs"])
    assert run_.data.params["dataset.labels"] == json.dumps(params["dataset"]["labels"])
    metrics = json.loads((tiny_pipeline / "metrics/evaluate.json").read_text())
    assert run_.data.metrics["accuracy_int8"] == pytest.approx(metrics["accuracy_int8"])
    assert run_.data.metrics["esp32.fits"] == 1.0
    assert any(k.startswith("data.") for k in run_.data.metrics)
    arts = {a.path for a in client.list_artifacts(info["run_id"])}
    assert {"model", "plots", "metrics", "model_card.md", "environment"} <= arts
    model_files = {a.path for a in client.list_artifacts(info["run_id"], "model")}
    assert "model/model_int8.tflite" in model_files
    card = client.download_artifacts(info["run_id"], "model_card.md", str(tmp_path))
    assert settings["model"]["sha256"] in Path(card).read_text()

    # the same model bytes again (a second `make demo`, another commit): no new version, no
    # new run; the existing version keeps (or gets back) the alias
    client.delete_registered_model_alias("kws", "candidate")
    res = run(register_cmd(tiny_pipeline, work / "registry.json"), mlflow_server, work)
    assert res.returncode == 0, res.stderr
    again = json.loads((work / "registry.json").read_text())
    assert again["version"] == 1 and again["run_id"] == info["run_id"]
    assert client.get_model_version_by_alias("kws", "candidate").version == "1"
    assert len(client.search_model_versions("name='kws'")) == 1
    experiment = client.get_experiment_by_name("kws")
    assert len(client.search_runs([experiment.experiment_id])) == 1
    listing = run([sys.executable, "-m", "ml.register", "--list"], mlflow_server, work)
    assert listing.returncode == 0, listing.stderr
    assert "candidate" in listing.stdout.splitlines()[2]  # newest first


@pytest.mark.slow
def test_credentials_in_the_uri_are_never_shown(
    tiny_pipeline: Path, mlflow_server: str, tmp_path: Path
) -> None:
    """A user:password in MLFLOW_TRACKING_URI reaches the server but no output or file."""
    secret_uri = mlflow_server.replace("http://", "http://alice:s3cret-pw@")
    res = run(register_cmd(tiny_pipeline, tmp_path / "registry.json"), secret_uri, tmp_path)
    assert res.returncode == 0, res.stderr
    listing = run([sys.executable, "-m", "ml.register", "--list"], secret_uri, tmp_path)
    assert listing.returncode == 0, listing.stderr
    shown = mlflow_server.replace("http://", "http://***@")
    assert json.loads((tmp_path / "registry.json").read_text())["tracking_uri"] == shown
    assert f"at {shown}" in listing.stdout
    for text in (res.stdout, res.stderr, listing.stdout, listing.stderr):
        assert "s3cret-pw" not in text and "alice" not in text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"s3cret-pw" not in path.read_bytes(), path


def test_unreachable_server_fails_fast_with_one_line(tiny_pipeline: Path, tmp_path: Path) -> None:
    # Loopback only: tests never send traffic to another address. A closed port on 127.0.0.1
    # is refused at once, so what is measured is whether register retries (MLflow's default
    # backoff takes minutes), beside the start-up cost of the same interpreter and imports.
    uri = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "other.json").write_text("{}")
    start = time.monotonic()
    base = run([sys.executable, "-c", "import mlflow, ml.register"], uri, tmp_path)
    startup = time.monotonic() - start
    assert base.returncode == 0, base.stderr
    start = time.monotonic()
    res = run(register_cmd(tiny_pipeline, tmp_path / "registry.json"), uri, tmp_path)
    elapsed = time.monotonic() - start - startup
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: MLflow tracking server {uri} unreachable (")
    # MLflow's retries (7, backoff factor 2) would take minutes; 30 s leaves room for the
    # hashing and verifying register does before it calls the server, on a loaded machine
    assert elapsed < 30
    assert not (tmp_path / "registry.json").exists()
    assert (tmp_path / "other.json").read_text() == "{}"
    assert (tiny_pipeline / "firmware/generated/model_settings.json").is_file()


def test_unreachable_server_with_credentials_shows_none(
    tiny_pipeline: Path, tmp_path: Path
) -> None:
    port = free_port()
    res = run(
        register_cmd(tiny_pipeline, tmp_path / "registry.json"),
        f"http://alice:s3cret-pw@127.0.0.1:{port}",
        tmp_path,
    )
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: MLflow tracking server http://***@127.0.0.1:{port} ")
    assert "s3cret-pw" not in res.stderr + res.stdout
    assert not (tmp_path / "registry.json").exists()
