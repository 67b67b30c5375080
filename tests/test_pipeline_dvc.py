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

from ml.workspace import copy_pipeline

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
    copy_pipeline(root)  # dvc.yaml, ml/ and every stage's other sources
    (root / "telemetry").mkdir()  # the monitor stage's store (telemetry.dvc): empty here
    shutil.copytree(tiny_pipeline / "data/speech_commands", root / "data/speech_commands")
    params = yaml.safe_load((tiny_pipeline / "params.yaml").read_text())
    params["train"]["epochs"] = 5  # the stages' wiring is under test here, not accuracy
    params["evaluate"]["stream_minutes"] = 0.5
    # a 5-epoch model: the gates are opened here and closed by the gate test
    params["evaluate"].update(
        min_accuracy_int8=0.0, max_int8_drop=1.0, max_false_accepts_per_hour=100000.0
    )
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
    assert "monitor" in ran_stages(res)  # after evaluate: drift of the (empty) telemetry store
    assert [s for s in ran_stages(res) if s != "monitor"] == [
        "validate", "features", "train", "quantize", "evaluate", "export", "register",
    ]  # fmt: skip
    yield root


def versions(repo: Path) -> list:
    """The `kws` versions in the copy's MLflow registry (sqlite:///<repo>/mlflow.db)."""
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{repo / 'mlflow.db'}").search_model_versions("name='kws'")


def test_outputs_exist(repo: Path) -> None:
    for rel in (
        "reports/data.json",
        "metrics/train.json",
        "metrics/train/plots/metrics/val/accuracy.tsv",
        "metrics/evaluate.json",
        "metrics/plots/confusion.json",
        "metrics/plots/per_class.json",
        "metrics/plots/confusion.png",
        "firmware/generated/model_settings.h",
        "firmware/generated/model_data.cc",
        "hil/vectors/manifest.json",
        "dvc.lock",
    ):
        assert (repo / rel).is_file(), rel
    m = json.loads((repo / "metrics/evaluate.json").read_text())
    assert m["tflm_tflite_mismatches"] == 0
    settings = json.loads((repo / "firmware/generated/model_settings.json").read_text())
    [version] = versions(repo)
    assert version.tags["model_sha256"] == settings["model"]["sha256"]
    assert not (repo / "metrics/registry.json").exists()  # no run ids or paths in outputs
    lock = (repo / "dvc.lock").read_text()
    assert str(repo) not in lock and "registry.json" not in lock
    shown = sh([str(BIN / "dvc"), "metrics", "show", "--json"], repo)
    assert shown.returncode == 0, shown.stderr
    assert "accuracy_int8" in shown.stdout


def test_second_repro_is_a_no_op(repo: Path) -> None:
    res = sh([str(BIN / "dvc"), "repro"], repo)
    assert res.returncode == 0, res.stderr
    assert ran_stages(res) == []
    assert "Data and pipelines are up to date." in res.stdout


def test_a_fresh_clone_takes_the_model_from_the_seed_and_rebuilds_only_the_features(
    repo: Path, tmp_path: Path
) -> None:
    """`make pull` on a machine whose DVC remote is empty: seed/ (ml/seed.py) gives the model."""
    from ml import seed

    fresh = tmp_path / "fresh"
    shutil.copytree(repo, fresh, symlinks=True)
    with (fresh / ".dvc/config").open("a") as config:
        config.write(f"['remote \"{seed.REMOTE}\"']\n    url = ../seed\n")
    gaps, deleted, root = seed.refresh(fresh)  # make seed
    assert (gaps, deleted, root) == ([], 0, fresh / "seed")
    assert seed.missing(fresh) == []
    for rel in (".dvc/cache", "build", "firmware/generated", "hil/vectors"):  # a fresh clone
        shutil.rmtree(fresh / rel)
    (fresh / "metrics/plots/confusion.png").unlink()
    assert seed.pull(fresh) == []  # make pull, with an empty default remote
    assert (fresh / "build/model/model_int8.tflite").is_file()
    assert not (fresh / "build/features").exists()  # not in the seed: 43 MB in the real one
    res = sh([str(BIN / "dvc"), "repro"], fresh)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert ran_stages(res) == ["features"]  # same bytes: nothing after it retrains
    assert (fresh / "metrics/plots/confusion.png").is_file()


def test_registering_the_same_model_again_adds_no_version(repo: Path) -> None:
    """A second `make demo` (or another commit with the same model): one MLflow version."""
    before = [(v.version, v.run_id) for v in versions(repo)]
    lock = (repo / "dvc.lock").read_text()
    res = sh([str(BIN / "dvc"), "repro", "-f", "-s", "register"], repo)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert ran_stages(res) == ["register"]
    assert [(v.version, v.run_id) for v in versions(repo)] == before
    assert (repo / "dvc.lock").read_text() == lock


def test_a_gate_below_the_model_fails_evaluate_and_registers_nothing(repo: Path) -> None:
    path = repo / "params.yaml"
    original = path.read_text()
    acc = json.loads((repo / "metrics/evaluate.json").read_text())["accuracy_int8"]
    before = len(versions(repo))
    set_param(repo, "evaluate.min_accuracy_int8", 0.999)
    try:
        res = sh([str(BIN / "dvc"), "repro"], repo)
        assert res.returncode != 0
        assert ran_stages(res) == ["evaluate"]
        assert (
            f"error: quality gate: accuracy_int8 {acc} is below evaluate.min_accuracy_int8 "
            "0.999 (model not exported or registered)\n" in res.stderr
        )
        assert "Traceback" not in res.stderr
        assert len(versions(repo)) == before
    finally:
        path.write_text(original)


def test_quantize_param_reruns_only_downstream(repo: Path) -> None:
    before = len(versions(repo))
    set_param(repo, "quantize.representative_samples", 8)  # 64 in tiny: 48 gave the same bytes
    res = sh([str(BIN / "dvc"), "repro"], repo)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert [s for s in ran_stages(res) if s != "monitor"] == [
        "quantize", "evaluate", "export", "register",
    ]  # fmt: skip
    assert len(versions(repo)) == before + 1  # other model bytes: a new version


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
         "--ops", "firmware/core/supported_ops.def",
         "--metrics", "out/evaluate.json", "--plots", "out/plots"],
        repo,
    )  # fmt: skip
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: data/missing: dataset directory not found (run `make data`)"
    ]
    assert not (repo / "out").exists()


def test_metrics_and_plots_diff_show_both_revisions(repo: Path) -> None:
    """Metrics and plot data live in git (images in the DVC cache): a diff has a "before"."""
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    res = sh([str(BIN / "dvc"), "repro"], repo)  # earlier tests may have left a stage failed
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert sh([*git, "add", "-A"], repo).returncode == 0
    assert sh([*git, "commit", "-q", "-m", "baseline run"], repo).returncode == 0
    epochs = yaml.safe_load((repo / "params.yaml").read_text())["train"]["epochs"]
    set_param(repo, "train.epochs", epochs + 1)
    res = sh([str(BIN / "dvc"), "repro"], repo)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert sh([*git, "add", "-A"], repo).returncode == 0
    assert sh([*git, "commit", "-q", "-m", "one more epoch"], repo).returncode == 0

    res = sh([str(BIN / "dvc"), "metrics", "diff", "HEAD~1", "--all", "--json"], repo)
    assert res.returncode == 0, res.stderr
    diff = json.loads(res.stdout)
    int8 = diff["metrics/evaluate.json"]["accuracy_int8"]
    assert isinstance(int8["old"], float) and isinstance(int8["new"], float)
    trained = diff["metrics/train.json"]["epochs"]
    assert (trained["old"], trained["new"]) == (epochs, epochs + 1)
    assert isinstance(diff["metrics/evaluate.json"]["esp32.est_latency_ms"]["old"], float)

    res = sh([str(BIN / "dvc"), "params", "diff", "HEAD~1", "--json"], repo)
    changed = json.loads(res.stdout)["params.yaml"]["train.epochs"]
    assert (changed["old"], changed["new"]) == (epochs, epochs + 1)

    res = sh([str(BIN / "dvc"), "plots", "diff", "HEAD~1", "--json"], repo)
    assert res.returncode == 0, res.stderr
    assert "failed to load" not in (res.stdout + res.stderr).lower()
    shown = json.loads(res.stdout)
    assert not shown.get("errors"), shown.get("errors")
    curves = [k for k in shown["data"] if "val/accuracy" in k]
    assert curves, sorted(shown["data"])
    revs = {r for k in curves for d in shown["data"][k] for r in d.get("revisions", [])}
    assert {"HEAD~1", "workspace"} <= revs, revs


def test_plots_render_offline_with_a_before(repo: Path) -> None:
    """`make plots BASE=HEAD~1`: PNGs of every plot and an index.html that loads nothing remote."""
    out = repo / "dvc_plots"
    res = sh([sys.executable, "-m", "ml.plots", "--out", str(out), "--rev", "HEAD~1"], repo)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert any("val_accuracy" in p for p in pngs), pngs
    assert any("confusion.json" in p for p in pngs), pngs
    assert {"HEAD_1_confusion.png", "workspace_confusion.png"} <= set(pngs), pngs
    for name in pngs:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    pages = [out / "index.html", *out.glob("*.html")]
    for page in pages:
        text = page.read_text()
        assert not re.search(r"<script[^>]+src=['\"]https?://", text), page.name
