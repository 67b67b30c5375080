"""ml.features: example selection, augmentation, determinism, caching and errors."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from ml.dataset import Clip, list_clips
from ml.errors import KwsError
from ml.features import FeaturesError, build_split, main, select_examples
from ml.params import ParamsError
from ml.splits import load_split


def write_params(tmp_path: Path, params: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def run(tiny_dataset: Path, out: Path, params_file: Path) -> None:
    assert main(["--data", str(tiny_dataset), "--out", str(out), "--params", str(params_file)]) == 0


def test_splits_shapes_and_example_counts(tiny_dataset, tiny_params, tmp_path):
    out = tmp_path / "features"
    run(tiny_dataset, out, write_params(tmp_path, tiny_params))
    assert sorted(p.name for p in out.iterdir()) == ["test.npz", "train.npz", "validation.npz"]
    ds, ft = tiny_params["dataset"], tiny_params["features"]
    labels = ds["labels"]
    clips = list_clips(tiny_dataset, tiny_params)
    for split, stem in (("training", "train"), ("validation", "validation"), ("testing", "test")):
        x, y, names = load_split(out, stem)
        assert x.dtype == np.int8 and x.shape[1:] == (49, 40) and y.dtype == np.int64
        assert len(x) == len(y) == len(names)
        known = [c for c in clips[split] if labels[c.label] != "_unknown_"]
        unknown = [c for c in clips[split] if labels[c.label] == "_unknown_"]
        # input_data's rule, pinned by hand-worked numbers in test_select_examples_by_hand
        n_sil = math.ceil(len(known) * ds["silence_percentage"] / 100)
        cap = ds["train_unknown_percentage" if split == "training" else "unknown_percentage"]
        n_unk = min(len(unknown), math.ceil(len(known) * cap / 100))
        copies = 1 + (ft["augment_copies"] if split == "training" and ft["augment"] else 0)
        assert len(y) == copies * (len(known) + n_sil + n_unk)
        counts = np.bincount(y, minlength=len(labels))
        assert counts[labels.index("_silence_")] == copies * n_sil
        assert counts[labels.index("_unknown_")] == copies * n_unk
        clean = [str(n) for n in names if "#aug" not in str(n) and n != "silence"]
        assert set(clean) <= {c.rel for c in clips[split]}
        # labels follow the word directory
        for name, label in zip(names, y, strict=True):
            word = str(name).split("/")[0]
            if word in ds["keywords"]:
                assert labels[label] == word
    _, _, names = load_split(out, "train")
    assert any("#aug1" in str(n) for n in names)
    _, _, names = load_split(out, "test")
    assert not any("#aug" in str(n) for n in names)


def hand_clips(known: int, unknown: int) -> list[Clip]:
    """`known` "yes" clips and `unknown` "bed" clips, one speaker each."""
    words = ["yes"] * known + ["bed"] * unknown
    return [
        Clip(Path(f"/d/{w}/{i:08x}_nohash_0.wav"), f"{w}/{i:08x}_nohash_0.wav", w,
             2 if w == "yes" else 1, f"{i:08x}")
        for i, w in enumerate(words)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("known", "unknown", "picked", "silence"),
    [
        (20, 15, 8, 2),  # unknowns: min(15, ceil(20 x 40%) = 8); silence: ceil(20 x 10%) = 2
        (21, 15, 9, 3),  # ceil(8.4) = 9, ceil(2.1) = 3: both round up
        (20, 5, 5, 2),  # only 5 unknowns: all of them
        (0, 5, 0, 0),  # no keyword clips: nothing to scale by
    ],
)
def test_select_examples_by_hand(known: int, unknown: int, picked: int, silence: int) -> None:
    """input_data's rule, with dataset.unknown_percentage 40 and silence_percentage 10."""
    params = {
        "dataset": {"labels": ["_silence_", "_unknown_", "yes"], "unknown_percentage": 40,
                    "train_unknown_percentage": 40, "silence_percentage": 10},
        "features": {"seed": 1},
    }  # fmt: skip
    out = select_examples(hand_clips(known, unknown), "training", params, n_background=1)
    assert [e.label for e in out].count(2) == known
    assert [e.label for e in out].count(1) == picked
    assert [e.name for e in out].count("silence") == silence
    assert len(out) == known + picked + silence


@pytest.mark.parametrize(
    ("split", "picked"),
    [
        ("training", 15),  # train_unknown_percentage 100: min(15, ceil(20 x 100%)) = 15
        ("validation", 8),  # unknown_percentage 40: ceil(20 x 40%) = 8
        ("testing", 8),
    ],
)
def test_training_split_has_its_own_unknown_cap(split: str, picked: int) -> None:
    params = {
        "dataset": {"labels": ["_silence_", "_unknown_", "yes"], "unknown_percentage": 40,
                    "train_unknown_percentage": 100, "silence_percentage": 10},
        "features": {"seed": 1},
    }  # fmt: skip
    out = select_examples(hand_clips(20, 15), split, params, n_background=1)
    assert [e.label for e in out].count(1) == picked
    assert [e.label for e in out].count(2) == 20


def test_deterministic_and_seed_sensitive(tiny_dataset, tiny_params, tmp_path):
    clips = list_clips(tiny_dataset, tiny_params)["training"]
    a = build_split("training", clips, tiny_params, tiny_dataset, tmp_path / "a")
    b = build_split("training", clips, tiny_params, tiny_dataset, tmp_path / "b")
    with np.load(a) as za, np.load(b) as zb:
        assert np.array_equal(za["x"], zb["x"]) and np.array_equal(za["y"], zb["y"])
        xa = za["x"]
    other = copy.deepcopy(tiny_params)
    other["features"]["seed"] += 1
    c = build_split("training", clips, other, tiny_dataset, tmp_path / "c")
    with np.load(c) as zc:
        assert not np.array_equal(zc["x"], xa)


def test_augmentation_changes_only_the_copies(tiny_dataset, tiny_params, tmp_path):
    p = copy.deepcopy(tiny_params)
    p["features"].update(background_frequency=1.0, time_shift_ms=100, augment_copies=1)
    clips = list_clips(tiny_dataset, p)["training"]
    build_split("training", clips, p, tiny_dataset, tmp_path / "aug")
    x, _, names = load_split(tmp_path / "aug", "train")
    names = [str(n) for n in names]
    plain = copy.deepcopy(p)
    plain["features"]["augment"] = False
    build_split("training", clips, plain, tiny_dataset, tmp_path / "plain")
    x0, _, names0 = load_split(tmp_path / "plain", "train")
    assert len(x) == 2 * len(x0)
    assert np.array_equal(x[: len(x0)], x0)  # the clean examples come first, unchanged
    first = names.index(f"{names0[0]}#aug1")
    assert not np.array_equal(x[first], x0[0])  # its augmented copy differs


def test_features_output_holds_only_data(tiny_dataset, tiny_params, tmp_path):
    """Only the data is written, nothing beside it (no code hash): a refactor that yields the
    same features gives the same DVC hash and does not rerun training."""
    clips = list_clips(tiny_dataset, tiny_params)["validation"]
    out = tmp_path / "f"
    path = build_split("validation", clips, tiny_params, tiny_dataset, out)
    with np.load(path) as z:
        assert sorted(z.files) == ["names", "x", "y"]
    assert sorted(p.name for p in out.iterdir()) == [path.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_missing_dataset_is_a_one_line_error(tmp_path, tiny_params):
    params_file = write_params(tmp_path, tiny_params)
    with pytest.raises(KwsError) as e:
        main(
            [
                "--data",
                str(tmp_path / "nope"),
                "--out",
                str(tmp_path / "o"),
                "--params",
                str(params_file),
            ]
        )
    assert str(e.value) == f"{tmp_path / 'nope'}: dataset directory not found (run `make data`)"
    assert not (tmp_path / "o").exists()


def test_bad_params_and_missing_features(tmp_path, tiny_params, tiny_dataset):
    bad = copy.deepcopy(tiny_params)
    bad["features"]["snr_db_mni"] = 3
    params_file = write_params(tmp_path, bad)
    with pytest.raises(ParamsError) as e:
        main(
            [
                "--data",
                str(tiny_dataset),
                "--out",
                str(tmp_path / "o"),
                "--params",
                str(params_file),
            ]
        )
    assert str(e.value) == (
        f"{params_file}: unknown key 'features.snr_db_mni' (did you mean 'features.snr_db_min'?)"
    )
    with pytest.raises(FeaturesError) as e:
        load_split(tmp_path, "train")
    assert str(e.value) == f"{tmp_path / 'train.npz'}: features missing (run the features stage)"


def test_silence_needs_background_noise(tiny_dataset, tiny_params, tmp_path):
    # a copy of the dataset without _background_noise_
    import shutil

    root = tmp_path / "data"
    shutil.copytree(tiny_dataset, root, ignore=shutil.ignore_patterns("_background_noise_"))
    clips = list_clips(root, tiny_params)["testing"]
    with pytest.raises(FeaturesError) as e:
        build_split("testing", clips, tiny_params, root, tmp_path / "o")
    assert str(e.value) == (
        "testing: dataset.silence_percentage > 0 but there is no _background_noise_/*.wav"
    )
    assert not (tmp_path / "o" / "test.npz").exists()
