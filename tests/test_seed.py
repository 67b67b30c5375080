"""seed/: the trained default model a fresh clone pulls instead of retraining (ml/seed.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from ml import seed

REPO = Path(__file__).resolve().parents[1]


def test_seed_stages_are_the_pipeline_after_the_features() -> None:
    names = seed.stages(REPO / "dvc.yaml")
    assert "features" not in names and "validate" not in names
    for stage in ("train", "quantize", "evaluate", "export"):
        assert stage in names
    assert names == [s for s in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
                     if s in names]  # fmt: skip


def test_dvc_config_points_the_seed_remote_at_the_folder_in_git() -> None:
    from dvc.repo import Repo

    with Repo(str(REPO)) as dvc:
        root = seed.seed_dir(dvc)
    assert root == REPO / "seed"
    tracked = subprocess.run(
        ["git", "ls-files", "--", "seed"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert tracked.stdout.strip(), "seed/ is not in git"


@pytest.mark.slow
def test_the_repository_seed_holds_every_output_dvc_lock_records() -> None:
    """The gate: a dvc.lock committed without `make seed` fails here, not on a fresh clone."""
    assert seed.missing(REPO) == [], "seed/ is stale: make seed, then git add seed"
    lock = yaml.safe_load((REPO / "dvc.lock").read_text())["stages"]
    model = next(o for o in lock["quantize"]["outs"] if o["path"].endswith(".tflite"))
    assert seed._object(REPO / "seed", model["md5"]).stat().st_size == model["size"]


def test_the_check_names_a_missing_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """An empty seed: one line per output of the seed's stages, and exit 1."""
    for rel in ("dvc.yaml", "dvc.lock", "params.yaml", ".dvc/config"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text((REPO / rel).read_text())
    (tmp_path / ".dvc/.gitignore").write_text("/cache\n/tmp\n")
    assert seed.main(["check", "--repo", str(tmp_path)]) == 2  # not a git repository yet
    assert capsys.readouterr().err.count("\n") == 1
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert seed.main(["check", "--repo", str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert any("build/model/model_int8.tflite" in line for line in err)
    assert all(line.startswith("error: seed/: lacks dvc.lock's ") for line in err)
    assert not any("build/features" in line for line in err)
    # make pull's fallback on the same empty seed: exit 1, so make says the stages rerun
    assert seed.main(["pull", "--repo", str(tmp_path)]) == 1
    assert not (tmp_path / "build/model/model_int8.tflite").exists()


def _put(root: Path, md5: str, data: bytes) -> Path:
    path = seed._object(root / "seed", md5)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_prune_keeps_what_dvc_lock_names_and_deletes_the_rest(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text(
        yaml.safe_dump({"stages": {"features": {"cmd": "f"}, "train": {"cmd": "t"}}})
    )
    entry = "c" * 32
    lock = {
        "stages": {
            "features": {"outs": [{"path": "build/features", "md5": "f" * 32}]},
            "train": {
                "outs": [
                    {"path": "model.keras", "md5": "a" * 32},
                    {"path": "generated", "md5": "b" * 32 + ".dir"},
                    {"path": "metrics.json", "md5": "e" * 32},  # cache: false, not in the seed
                ]
            },
        }
    }
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    kept = [
        _put(tmp_path, "a" * 32, b"model"),
        _put(tmp_path, "b" * 32 + ".dir", json.dumps([{"md5": entry, "relpath": "x.h"}]).encode()),
        _put(tmp_path, entry, b"x"),
    ]
    stale = [_put(tmp_path, "d" * 32, b"old model"), _put(tmp_path, "f" * 32, b"features")]
    assert seed.prune(tmp_path, tmp_path / "seed") == 2
    assert all(p.is_file() for p in kept)
    assert not any(p.exists() for p in stale)
    assert not (tmp_path / "seed/files/md5/dd").exists()  # emptied fan-out folders go too
