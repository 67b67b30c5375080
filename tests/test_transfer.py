"""ml.transfer: held-out-engine validation on the tiny pipeline's features."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from ml.splits import load_split
from ml.transfer import cap_unknowns, engine_of, recipe_digest, run, table

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_hold_out_two_engines(tiny_pipeline: Path, tmp_path: Path) -> None:
    params = yaml.safe_load((tiny_pipeline / "params.yaml").read_text())
    params["transfer"] = {"epochs": 1, "engines": ["flite", "espeak", "nosuch"]}
    feats = tiny_pipeline / "build/features"
    result = run(params, feats)
    assert list(result["held_out"]) == ["flite", "espeak"]  # absent engines are skipped
    unknown = params["dataset"]["labels"].index("_unknown_")
    for engine, v in result["held_out"].items():
        rows: list[int] = []
        for split in ("train", "validation", "test"):
            _, y, names = load_split(feats, split)
            rows += [
                int(label)
                for n, label in zip(names, y, strict=True)
                if engine_of(str(n)) == engine and "#aug" not in str(n)
            ]
        # every keyword clip; _unknown_ capped at unknown_percentage of them (a split's mix)
        keywords = sum(r != unknown for r in rows)
        cap = math.ceil(keywords * params["dataset"]["unknown_percentage"] / 100)
        assert v["clips"] == keywords + min(cap, rows.count(unknown)) > 0
        assert 0.0 <= v["accuracy"] <= 1.0 and v["best_epoch"] == 1
        n_train = len(load_split(feats, "train")[2])
        assert 0 < v["train_examples"] < n_train  # the held-out engine is not trained on
    assert result["worst_accuracy"] == min(v["accuracy"] for v in result["held_out"].values())
    out = tmp_path / "transfer.json"
    out.write_text(json.dumps(result))
    evaluate = tmp_path / "evaluate.json"
    by_engine = {"flite": {"accuracy": 0.75, "clips": 8}, "piper": {"accuracy": 0.25, "clips": 4}}
    evaluate.write_text(json.dumps({"accuracy_int8": 0.5, "int8_by_engine": by_engine}))
    shown = table(out, evaluate, feats)
    assert "| all engines | 0.5000 | |" in shown
    flite = result["held_out"]["flite"]
    assert (
        f"| engine flite | 0.7500 (8 clips) | {flite['accuracy']:.4f} ({flite['clips']} clips) |"
        in shown
    )
    assert "| engine piper | 0.2500 (4 clips) | |" in shown  # tested, not held out
    assert "stale" not in shown and "incomplete" not in shown
    # a merge of subset runs that left an engine out: the table names it
    partial = table(out, evaluate, feats, ["flite", "espeak", "piper"])
    assert partial.endswith(
        "(incomplete: no result for piper of transfer.engines; run `make transfer`)"
    )
    # features changed since: the table says so
    other = tmp_path / "feats"
    other.mkdir()
    for split in ("train", "validation", "test"):
        np.savez(other / f"{split}.npz", x=np.zeros((1, 1, 1), np.int8), y=[0], names=["a"])
    assert "stale" in table(out, evaluate, other)
    # the recipe changed since (a train param; train.epochs does not count, the held-out
    # runs train transfer.epochs): the table says so
    same = {**params, "train": {**params["train"], "epochs": 99}}
    assert "stale" not in table(out, evaluate, feats, recipe=recipe_digest(same))
    faster = {**params, "train": {**params["train"], "learning_rate": 0.5}}
    assert "another model or training recipe" in table(
        out, evaluate, feats, recipe=recipe_digest(faster)
    )


def test_one_engine_is_refused(tmp_path: Path) -> None:
    for split in ("train", "validation", "test"):
        np.savez(
            tmp_path / f"{split}.npz",
            x=np.zeros((2, 49, 40), np.int8),
            y=np.array([2, 3]),
            names=np.array(["yes/espeak-0000000a_nohash_0.wav", "silence"]),
        )
    cmd = [sys.executable, "-m", "ml.transfer", "--features", str(tmp_path), "--out"]
    res = subprocess.run(
        [*cmd, str(tmp_path / "t.json")], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert res.returncode == 1
    assert res.stderr.strip() == (
        f"error: {tmp_path}: held-out-engine validation needs clips of two engines of "
        "transfer.engines; found espeak"
    )
    assert not (tmp_path / "t.json").exists()


def test_show_without_results(tmp_path: Path) -> None:
    assert "not computed yet" in table(tmp_path / "none.json", None, None)


def test_merge_of_subset_runs(tmp_path: Path) -> None:
    from ml.transfer import merge

    def part(name: str, per: dict[str, float], digest: str = "f") -> Path:
        held = {e: {"accuracy": a, "clips": 10} for e, a in per.items()}
        path = tmp_path / f"{name}.json"
        path.write_text(
            json.dumps({"held_out": held, "epochs": 8, "features": digest, "recipe": "r"})
        )
        return path

    a, b = part("a", {"espeak": 0.9, "flite": 0.8}), part("b", {"piper": 0.7})
    out = merge([a, b])
    assert list(out["held_out"]) == ["espeak", "flite", "piper"]
    assert out["worst_engine"] == "piper" and out["worst_accuracy"] == 0.7
    assert out["mean_accuracy"] == 0.8
    with pytest.raises(Exception, match="different features, epochs or recipes"):
        merge([a, part("c", {"festival": 0.5}, digest="g")])


@pytest.mark.parametrize("key", ["engine_adversary", "average_last"])
def test_recipe_digest_counts_a_training_option_only_when_on(key: str) -> None:
    from ml.params import load_params

    params = load_params(REPO / "params.yaml")
    without = {**params, "train": {k: v for k, v in params["train"].items() if k != key}}
    off = {**params, "train": {**params["train"], key: 0.0}}
    on = {**params, "train": {**params["train"], key: 0.5}}
    # results computed before the param existed stay current while it is off
    assert recipe_digest(off) == recipe_digest(without) != recipe_digest(on)
    assert params["train"][key] == 0.0  # the default: off


def test_held_out_unknowns_are_capped_as_a_split_is() -> None:
    y = np.array([2] * 10 + [1] * 7)  # 10 keyword clips, 7 _unknown_
    keep = cap_unknowns(y, 1, 40, [42, 7])  # at most ceil(10 x 40%) = 4 unknowns
    assert keep[:10].all() and keep[10:].sum() == 4
    assert np.array_equal(keep, cap_unknowns(y, 1, 40, [42, 7]))  # seeded
    # under the cap (the four-words-per-speaker data: 40% exactly): every clip, so the
    # figures measured before the cap existed stand
    assert cap_unknowns(y[:14], 1, 40, [42, 7]).all()
    assert cap_unknowns(y, 1, 100, [42, 7]).all()


@pytest.mark.slow
def test_several_seeds_average_the_same_clips(tiny_pipeline: Path) -> None:
    params = yaml.safe_load((tiny_pipeline / "params.yaml").read_text())
    params["transfer"] = {"epochs": 1, "seeds": 2, "engines": ["flite"]}
    feats = tiny_pipeline / "build/features"
    held = run(params, feats, minimum=1)["held_out"]["flite"]
    base = params["train"]["seed"]
    assert [r["seed"] for r in held["runs"]] == [base, base + 1]
    assert held["accuracy"] == round(float(np.mean([r["accuracy"] for r in held["runs"]])), 4)
    one_seed = {**params, "transfer": {**params["transfer"], "seeds": 1}}
    single = run(one_seed, feats, minimum=1)["held_out"]["flite"]
    assert "runs" not in single and "seed" not in single
    assert single["clips"] == held["clips"]  # the same clips whatever the seed
    assert single["accuracy"] == held["runs"][0]["accuracy"]  # run 1 is the one-seed run
    # the number of seeds is part of the recipe (1 is the same as none: older results)
    no_key = {**params, "transfer": {"epochs": 1, "engines": ["flite"]}}
    assert recipe_digest(params) != recipe_digest(one_seed) == recipe_digest(no_key)


def test_mean_of_runs_and_its_table_cell(tmp_path: Path) -> None:
    from ml.transfer import mean_of_runs

    def result(seed: int, acc: float, yes: float) -> dict:
        return {
            "accuracy": acc,
            "clips": 10,
            "recall": {"yes": yes},
            "train_examples": 50,
            "best_epoch": 3,
            "seed": seed,
        }

    one = mean_of_runs([result(42, 0.5, 0.2)])
    assert one == {
        "accuracy": 0.5,
        "clips": 10,
        "recall": {"yes": 0.2},
        "train_examples": 50,
        "best_epoch": 3,
    }
    three = mean_of_runs([result(42, 0.4, 0.2), result(43, 0.5, 0.4), result(44, 0.6, 0.6)])
    assert three["accuracy"] == 0.5 and three["recall"] == {"yes": 0.4}
    assert [r["seed"] for r in three["runs"]] == [42, 43, 44]
    out = tmp_path / "transfer.json"
    out.write_text(
        json.dumps(
            {
                "held_out": {"espeak": three},
                "worst_engine": "espeak",
                "worst_accuracy": 0.5,
                "features": "f",
                "recipe": "r",
            }
        )
    )
    assert "| engine espeak | | 0.5000 (10 clips; 3 seeds: 0.4000-0.6000) |" in table(
        out, None, None
    )


@pytest.mark.parametrize("seeds", ["0", "21"])
def test_seeds_out_of_range_is_refused(tmp_path: Path, seeds: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "ml.transfer",
        "--features",
        str(tmp_path),
        "--out",
        str(tmp_path / "t.json"),
        "--seeds",
        seeds,
    ]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    assert res.returncode == 1
    assert res.stderr.strip() == f"error: --seeds = {seeds} must be in [1, 20]"
