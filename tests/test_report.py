"""`make report`: on a commit that changes params.yaml, against HEAD~1, the report has the
params and metrics diffs, the budget table for both boards with over-budget rows marked, the
gates, and writes the plots as PNG images. Runs on the tiny pipeline's metrics."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def report(repo: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GITHUB_STEP_SUMMARY": str(out / "summary.md"),
        # a registry that does not exist (make exports the work tree's own)
        "MLFLOW_TRACKING_URI": "sqlite:///mlflow.db",
    }
    return subprocess.run(
        [sys.executable, "-m", "ml.report", "--out", str(out), *extra],
        cwd=repo, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path, tiny_pipeline: Path) -> Path:
    """A repository whose last commit changes train.epochs and brings the tiny metrics."""
    r = tmp_path / "repo"
    (r / "metrics/plots").mkdir(parents=True)
    for name in (
        "params.yaml",
        "dvc.yaml",
        "metrics/evaluate.json",
        "metrics/plots/per_class.json",
    ):
        shutil.copyfile(REPO / name, r / name)
    git(r, "init", "-q", "-b", "main")
    git(r, "config", "user.email", "t@example.com")
    git(r, "config", "user.name", "t")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=r, check=True)
    git(r, "add", "-A")
    git(r, "commit", "-qm", "base")
    params = (r / "params.yaml").read_text()
    epochs = yaml.safe_load(params)["train"]["epochs"]
    (r / "params.yaml").write_text(params.replace(f"epochs: {epochs}", f"epochs: {epochs + 7}", 1))
    metrics = json.loads((tiny_pipeline / "metrics/evaluate.json").read_text())
    metrics["nano33ble"]["ram_bytes"] = 10**7  # one row over its budget
    (r / "metrics/evaluate.json").write_text(json.dumps(metrics))
    per_class = tiny_pipeline / "metrics/plots/per_class.json"  # per-class figures: a plot
    shutil.copyfile(per_class, r / "metrics/plots/per_class.json")
    git(r, "commit", "-qam", "more epochs")
    (r / "firmware/generated").mkdir(parents=True)  # the export of this change, untracked
    shutil.copyfile(
        tiny_pipeline / "firmware/generated/model_settings.json",
        r / "firmware/generated/model_settings.json",
    )
    return r


@pytest.mark.slow
def test_report_against_head_1(repo: Path, tmp_path: Path):
    out = tmp_path / "report"
    done = report(repo, out, "--base", "HEAD~1")
    assert done.returncode == 0, done.stderr
    md = done.stdout
    assert "train.epochs" in md  # dvc params diff
    assert "accuracy_int8" in md  # dvc metrics diff
    for board in ("esp32", "nano33ble"):
        assert f"| {board} | model (bytes) |" in md
        assert f"| {board} | est. latency (ms, lower bound) |" in md
    over = [ln for ln in md.splitlines() if "OVER BUDGET" in ln]
    assert over and all("nano33ble" in ln and "RAM" in ln for ln in over)
    assert "`budget.nano33ble`" in md
    images = sorted(out.glob("*.png"))
    # DVC's per-class plot (base and this change in one chart, ml.plots) and the budget chart
    assert {"metrics_plots_per_class.json.png", "budgets.png"} <= {p.name for p in images}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in images)
    assert (out / "summary.md").read_text().strip() == md.strip()
    sha = json.loads((repo / "firmware/generated/model_settings.json").read_text())["model"]
    mlflow = md.split("### MLflow\n", 1)[1].strip()
    assert mlflow == (
        f"model sha256 `{sha['sha256'][:16]}`: no MLflow registry at sqlite:///mlflow.db "
        "(the register stage has not run here)"
    )


def test_mlflow_section_names_the_first_version_of_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml import registry, report

    settings = tmp_path / "model_settings.json"
    settings.write_text(json.dumps({"model": {"sha256": "ab" * 32}}))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://bob:pw@mlflow.example")
    seen = []

    def versions(sha: str) -> list[dict]:
        seen.append(sha)
        return [{"version": 7, "run_id": "r7"}, {"version": 3, "run_id": "r3"}]

    monkeypatch.setattr(registry, "versions_with_sha", versions)
    assert report.mlflow_section(settings) == (
        "`kws` version 3, run `r3`, model sha256 `abababababababab` (https://***@mlflow.example)"
    )
    assert seen == ["ab" * 32]
    assert report.mlflow_section(tmp_path / "none.json") == (
        f"no {tmp_path / 'none.json'} (export stage not run)"
    )


def test_report_needs_a_base_that_exists(repo: Path, tmp_path: Path):
    done = report(repo, tmp_path / "r", "--base", "no-such-ref")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: BASE 'no-such-ref': not a commit in this repository (fetch it first)"
    ]
