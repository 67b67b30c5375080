"""The real `dvc repro` over every stage, on the tiny dataset, in a throw-away copy of the repo.

One module-scoped repro (git init + dvc init in tmp), then: a no-op repro, a quantize-only
param change, and the gates and params errors as the user sees them through DVC.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def sh(cmd: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "TF_USE_LEGACY_KERAS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONHASHSEED": "0",
        "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}",
        "DVC_NO_ANALYTICS": "1",
    }
    env.pop("PYTHONPATH", None)  # stages must use the copy's ml/, found from the stage's cwd
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def ran_stages(res: subprocess.CompletedProcess) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", res.stdout + res.stderr)


def set_param(repo: Path, dotted: str, value: object) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    *parents, leaf = dotted.split(".")
    node = params
    for key in parents:
        node = node[key]
    node[leaf] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tiny_pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the pipeline's sources with the tiny dataset and params, after `dvc repro`."""
    root = tmp_path_factory.mktemp("dvcrepo")
    shutil.copytree(REPO / "ml", root / "ml", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "hil").mkdir()
    shutil.copy(REPO / "hil/boards.yaml", root / "hil/boards.yaml")
    for name in ("__init__.py", "boards.py"):  # ml/budget.py reads boards.yaml through it
        shutil.copy(REPO / "hil" / name, root / "hil" / name)
    (root / "firmware/core").mkdir(parents=True)
    shutil.copy(REPO / "firmware/core/supported_ops.def", root / "firmware/core")
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    shutil.copytree(tiny_pipeline / "data/speech_commands", root / "data/speech_commands")
    params = yaml.safe_load((tiny_pipeline / "params.yaml").read_text())
    params["dataset"]["path"] = "data/speech_commands"
    params["train"]["epochs"] = 5  # the stages' wiring is under test here, not accuracy
    params["evaluate"]["stream_minutes"] = 0.5
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / ".gitignore").write_text("/data/\n/mlflow.db\n/mlruns/\n/mlartifacts/\n__pycache__/\n")
    assert sh(["git", "init", "-q"], root).returncode == 0
    res = sh([str(BIN / "dvc"), "init", "-q"], root)
    assert res.returncode == 0, res.stderr
    # dvclive needs a commit to compare against, as in any clone
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    assert sh([*git, "add", "-A"], root).returncode == 0
    res = sh([*git, "commit", "-q", "-m", "pipeline sources"], root)
    assert res.returncode == 0, res.stderr
    res = sh([str(BIN / "dvc"), "repro"], root)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert ran_stages(res) == [
        "validate", "features", "train", "quantize", "evaluate", "export", "register",
    ]  # fmt: skip
    yield root


def test_outputs_exist(repo: Path) -> None:
    for rel in (
        "metrics/data.json",
        "metrics/evaluate.json",
        "metrics/registry.json",
        "metrics/plots/confusion.json",
        "metrics/plots/confusion.png",
        "build/dvclive/train/metrics.json",
        "firmware/generated/model_settings.h",
        "firmware/generated/model_data.cc",
        "hil/vectors/manifest.json",
        "dvc.lock",
    ):
        assert (repo / rel).is_file(), rel
    m = json.loads((repo / "metrics/evaluate.json").read_text())
    assert m["tflm_tflite_mismatches"] == 0
    reg = json.loads((repo / "metrics/registry.json").read_text())
    settings = json.loads((repo / "firmware/generated/model_settings.json").read_text())
    assert reg["model_sha256"] == settings["model"]["sha256"]
    shown = sh([str(BIN / "dvc"), "metrics", "show", "--json"], repo)
    assert shown.returncode == 0, shown.stderr
    assert "accuracy_int8" in shown.stdout


def test_second_repro_is_a_no_op(repo: Path) -> None:
    res = sh([str(BIN / "dvc"), "repro"], repo)
    assert res.returncode == 0, res.stderr
    assert ran_stages(res) == []
    assert "Data and pipelines are up to date." in res.stdout


def test_quantize_param_reruns_only_downstream(repo: Path) -> None:
    before = json.loads((repo / "metrics/registry.json").read_text())
    set_param(repo, "quantize.representative_samples", 48)
    res = sh([str(BIN / "dvc"), "repro"], repo)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert ran_stages(res) == ["quantize", "evaluate", "export", "register"]
    after = json.loads((repo / "metrics/registry.json").read_text())
    assert after["version"] == before["version"] + 1


def test_model_over_budget_fails_the_repro(repo: Path) -> None:
    boards_file = repo / "hil/boards.yaml"
    original = boards_file.read_text()
    boards = yaml.safe_load(original)
    boards["esp32"]["model_budget_bytes"] = 1000
    boards_file.write_text(yaml.safe_dump(boards))
    try:
        res = sh([str(BIN / "dvc"), "repro"], repo)
        size = (repo / "build/model/model_int8.tflite").stat().st_size
        assert res.returncode != 0
        assert ran_stages(res) == ["evaluate"]
        assert f"error: board esp32: model {size} bytes exceeds model_budget_bytes 1000\n" in (
            res.stderr
        )
        assert not (repo / "metrics/evaluate.json").exists()  # nothing half-done
    finally:
        boards_file.write_text(original)


def test_unsupported_op_fails_the_repro(repo: Path) -> None:
    ops_file = repo / "firmware/core/supported_ops.def"
    original = ops_file.read_text()
    ops_file.write_text(
        "\n".join(x for x in original.splitlines() if not x.startswith("KWS_OP(DEPTHWISE"))
    )
    try:
        res = sh([str(BIN / "dvc"), "repro"], repo)
        assert res.returncode != 0
        assert (
            "error: board esp32: model uses op DEPTHWISE_CONV_2D not registered in "
            "supported_ops.def\n" in res.stderr
        )
    finally:
        ops_file.write_text(original)


def test_misspelt_params_key_fails_the_repro(repo: Path) -> None:
    path = repo / "params.yaml"
    original = path.read_text()
    path.write_text(original.replace("representative_samples:", "representativ_samples:"))
    try:
        res = sh([str(BIN / "dvc"), "repro", "quantize"], repo)
        assert res.returncode != 0
        assert (
            "error: params.yaml: unknown key 'quantize.representativ_samples' "
            "(did you mean 'quantize.representative_samples'?)\n" in res.stderr
        )
    finally:
        path.write_text(original)


def test_out_of_range_param_fails_the_stage(repo: Path) -> None:
    path = repo / "params.yaml"
    original = path.read_text()
    set_param(repo, "evaluate.stream_hop_ms", 5)
    try:
        res = sh(
            [sys.executable, "-m", "ml.export", "--int8", "build/model/model_int8.tflite",
             "--features", "build/features", "--data", "data/speech_commands",
             "--metrics", "metrics/evaluate.json", "--firmware", "out/fw", "--vectors", "out/v"],
            repo,
        )  # fmt: skip
        assert res.returncode == 1
        assert res.stderr.strip().splitlines() == [
            "error: params.yaml: evaluate.stream_hop_ms = 5 is out of range [10, 1000]"
        ]
        assert not (repo / "out").exists()
    finally:
        path.write_text(original)


def test_missing_dataset_fails_the_stage(repo: Path) -> None:
    res = sh(
        [sys.executable, "-m", "ml.evaluate", "--float", "build/model/float.keras",
         "--int8", "build/model/model_int8.tflite", "--features", "build/features",
         "--data", "data/missing", "--boards", "hil/boards.yaml",
         "--metrics", "out/evaluate.json", "--plots", "out/plots"],
        repo,
    )  # fmt: skip
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: data/missing: dataset directory not found (run `make data`)"
    ]
    assert not (repo / "out").exists()
