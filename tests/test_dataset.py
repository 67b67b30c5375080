"""ml.dataset: TensorFlow's split rule and the one Speech Commands loader."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from ml.dataset import (
    MAX_NUM_WAVS_PER_CLASS,
    DatasetError,
    background_files,
    list_clips,
    speaker_of,
    which_set,
)


def tf_which_set(filename: str, validation_percentage: int, testing_percentage: int) -> str:
    """tensorflow/examples/speech_commands/input_data.py's which_set, transcribed."""
    base_name = Path(filename).name
    hash_name = re.sub(r"_nohash_.*$", "", base_name)
    hash_name_hashed = hashlib.sha1(hash_name.encode()).hexdigest()
    percentage_hash = (int(hash_name_hashed, 16) % (MAX_NUM_WAVS_PER_CLASS + 1)) * (
        100.0 / MAX_NUM_WAVS_PER_CLASS
    )
    if percentage_hash < validation_percentage:
        return "validation"
    if percentage_hash < (testing_percentage + validation_percentage):
        return "testing"
    return "training"


def test_max_num_wavs_matches_tensorflow() -> None:
    assert MAX_NUM_WAVS_PER_CLASS == 134217727


def test_which_set_pinned_values() -> None:
    # Fixed points: the rule must never change, or every split of every dataset moves.
    assert which_set("no/1b4c9b89_nohash_3.wav", 10, 10) == "testing"
    assert which_set("yes/0a7c2a8d_nohash_0.wav", 10, 10) == "training"
    assert which_set("b", 10, 10) == "testing"


def test_which_set_is_tensorflows_rule() -> None:
    names = [f"{i:08x}_nohash_{i % 5}.wav" for i in range(0, 3000 * 7919, 7919)]
    for pct in ((10, 10), (5, 20), (30, 0)):
        assert [which_set(n, *pct) for n in names] == [tf_which_set(n, *pct) for n in names]
    counts = {s: sum(which_set(n, 10, 10) == s for n in names) for s in ("validation", "testing")}
    assert 200 < counts["validation"] < 400 and 200 < counts["testing"] < 400


def test_which_set_ignores_directory_and_utterance_number() -> None:
    assert speaker_of("left/abcd1234_nohash_7.wav") == "abcd1234"
    assert {which_set(f"{w}/abcd1234_nohash_{n}.wav", 10, 10) for w in "ab" for n in range(5)} == {
        which_set("abcd1234", 10, 10)
    }


def test_list_clips_follows_list_files(tiny_dataset: Path, tiny_params: dict[str, Any]) -> None:
    clips = list_clips(tiny_dataset, tiny_params)
    assert set(clips) == {"training", "validation", "testing"}
    labels = tiny_params["dataset"]["labels"]
    for split, name in (("validation", "validation_list.txt"), ("testing", "testing_list.txt")):
        listed = (tiny_dataset / name).read_text().split()
        assert sorted(c.rel for c in clips[split]) == sorted(listed)
    every = [c for cs in clips.values() for c in cs]
    on_disk = sorted(
        str(p.relative_to(tiny_dataset))
        for p in tiny_dataset.glob("*/*.wav")
        if p.parent.name != "_background_noise_"
    )
    assert sorted(c.rel for c in every) == on_disk
    for c in every:
        assert c.path == tiny_dataset / c.rel
        assert c.word == c.rel.split("/")[0]
        assert re.fullmatch(r"(espeak|flite|festival|piper|kokoro)-[0-9a-f]{8}", c.speaker)
        expected = c.word if c.word in tiny_params["dataset"]["keywords"] else "_unknown_"
        assert labels[c.label] == expected
    # generated data: every split non-empty and speakers never shared between splits
    speakers = {s: {c.speaker for c in cs} for s, cs in clips.items()}
    assert all(speakers.values())
    assert not speakers["training"] & speakers["validation"]
    assert not speakers["training"] & speakers["testing"]
    assert not speakers["validation"] & speakers["testing"]
    assert any(labels[c.label] == "_unknown_" for c in every)


def test_list_clips_is_sorted_and_stable(tiny_dataset: Path, tiny_params: dict[str, Any]) -> None:
    a, b = list_clips(tiny_dataset, tiny_params), list_clips(tiny_dataset, tiny_params)
    assert a == b
    for cs in a.values():
        assert [c.rel for c in cs] == sorted(c.rel for c in cs)


def test_background_files(tiny_dataset: Path) -> None:
    names = [p.name for p in background_files(tiny_dataset)]
    assert names == sorted(names) and len(names) >= 4
    assert all(
        p.parent == tiny_dataset / "_background_noise_" for p in background_files(tiny_dataset)
    )


def test_missing_dataset_dir(tmp_path: Path, tiny_params: dict[str, Any]) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(DatasetError) as exc:
        list_clips(missing, tiny_params)
    assert str(exc.value) == f"{missing}: dataset directory not found (run `make data`)"
    with pytest.raises(DatasetError):
        background_files(missing)


@pytest.fixture
def tiny_copy(tiny_dataset: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "sc"
    shutil.copytree(tiny_dataset, dst, ignore=shutil.ignore_patterns("_background_noise_"))
    return dst


def test_missing_list_file(tiny_copy: Path, tiny_params: dict[str, Any]) -> None:
    (tiny_copy / "testing_list.txt").unlink()
    with pytest.raises(DatasetError) as exc:
        list_clips(tiny_copy, tiny_params)
    assert str(exc.value) == f"{tiny_copy / 'testing_list.txt'}: list file missing"


def test_list_names_a_missing_clip(tiny_copy: Path, tiny_params: dict[str, Any]) -> None:
    with (tiny_copy / "validation_list.txt").open("a") as f:
        f.write("yes/ffffffff_nohash_0.wav\n")
    with pytest.raises(DatasetError) as exc:
        list_clips(tiny_copy, tiny_params)
    assert str(exc.value) == (
        f"{tiny_copy / 'validation_list.txt'}: lists yes/ffffffff_nohash_0.wav,"
        " which does not exist"
    )


def test_no_background_dir(tiny_copy: Path) -> None:
    assert background_files(tiny_copy) == []
