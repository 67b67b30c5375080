"""ml.features' front-end warm-up: augmented copies featurized as a listening board would."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from ml.audio import read_wav
from ml.dataset import list_clips
from ml.features import (
    Example,
    FeaturesError,
    _featurize_chunk,
    _warmup_audio,
    augment,
    build_split,
    load_backgrounds,
    main,
    render,
)
from ml.frontend import compute_features_batch
from ml.params import ParamsError
from ml.splits import load_split

RATE, CLIP = 16000, 16000


def warm_params(params: dict, **features) -> dict:
    p = copy.deepcopy(params)
    p["features"].update(warmup_ms=1000, warmup_probability=1.0, warmup_speech_probability=0.5)
    p["features"].update(features)
    return p


def test_warmed_example_keeps_its_clip_and_its_own_frames(tiny_dataset, tiny_params):
    p = warm_params(tiny_params)
    clip = list_clips(tiny_dataset, p)["training"][0]
    bgs = load_backgrounds(tiny_dataset, RATE, 2 * CLIP)
    fresh = Example(clip.rel, clip.label, clip.path, noise=0, noise_offset=5, snr_db=10.0)
    warm = replace(fresh, warmup=CLIP, warmup_offset=9)
    a, b = render(fresh, p, bgs, CLIP), render(warm, p, bgs, CLIP)
    assert len(a) == CLIP and len(b) == 2 * CLIP
    assert np.array_equal(b[CLIP:], a)  # the warm-up comes before the clip, the clip is as it was
    assert np.abs(b[:CLIP]).max() > 0  # the background plays on before it
    fe = p["frontend"]
    x = _featurize_chunk([a, b], fe, RATE, CLIP, lambda n: None)
    assert x.shape == (2, 49, 40)
    # the last 49 of the 99 frames of the 2 s run: the clip's windows, from a state that has
    # heard the warm-up (so they differ from the fresh state's)
    assert np.array_equal(x[1], compute_features_batch([b], fe, RATE, 2 * CLIP)[0, -49:])
    assert np.array_equal(x[0], compute_features_batch([a], fe, RATE, CLIP)[0])
    assert not np.array_equal(x[0], x[1])


def test_warmup_places_the_previous_clip_gap_samples_before(tiny_dataset, tiny_params):
    p = warm_params(tiny_params)
    prev = list_clips(tiny_dataset, p)["training"][1].path
    tail = read_wav(prev)[0].astype(np.float32) / 32768.0
    end = CLIP - 3200
    ex = Example("w", 2, None, warmup=CLIP, prev=prev, gap=3200)
    pre = _warmup_audio(ex, p, [], gain=0.0)
    assert len(pre) == CLIP
    assert np.array_equal(pre[:end], tail[-end:]) and not pre[end:].any()
    # a warm-up longer than the clip: all of it, then silence
    pre = _warmup_audio(replace(ex, warmup=3 * CLIP), p, [], gain=0.0)
    start = 3 * CLIP - 3200 - len(tail)
    assert np.array_equal(pre[start : start + len(tail)], tail)
    assert not pre[:start].any() and not pre[start + len(tail) :].any()
    assert not _warmup_audio(replace(ex, gap=CLIP), p, [], gain=0.0).any()  # the gap fills it


def test_warmup_changes_only_augmented_training_copies(tiny_dataset, tiny_params, tmp_path):
    off = copy.deepcopy(tiny_params)
    off["features"].update(augment_copies=1, warmup_ms=0)
    on = warm_params(off)
    clips = list_clips(tiny_dataset, off)
    for split in ("training", "validation"):
        for name, p in (("off", off), ("on", on)):
            build_split(split, clips[split], p, tiny_dataset, tmp_path / name)
    x0, y0, n0 = load_split(tmp_path / "off", "train")
    x1, y1, n1 = load_split(tmp_path / "on", "train")
    assert np.array_equal(y0, y1) and np.array_equal(n0, n1)
    clean = np.array(["#aug" not in str(n) for n in n0])
    assert np.array_equal(x0[clean], x1[clean])
    # a copy's shift, noise and SNR come from the same draws: only the warm-up differs, and it
    # changes the frames of (nearly) every copy
    changed = [not np.array_equal(a, b) for a, b in zip(x0[~clean], x1[~clean], strict=True)]
    assert sum(changed) >= 0.9 * len(changed)
    v0, _, _ = load_split(tmp_path / "off", "validation")
    v1, _, _ = load_split(tmp_path / "on", "validation")
    assert np.array_equal(v0, v1)  # validation and test: clips as the evaluation sees them


def test_warmup_probability_zero_is_off(tiny_dataset, tiny_params, tmp_path):
    clips = list_clips(tiny_dataset, tiny_params)["training"]
    a = warm_params(tiny_params, warmup_probability=0.0)
    b = warm_params(tiny_params, warmup_ms=0)
    build_split("training", clips, a, tiny_dataset, tmp_path / "a")
    build_split("training", clips, b, tiny_dataset, tmp_path / "b")
    assert np.array_equal(
        load_split(tmp_path / "a", "train")[0], load_split(tmp_path / "b", "train")[0]
    )


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ({"warmup_ms": 1010},
         "features.warmup_ms (1010) must be a multiple of frontend.window_stride_ms (20)"),
        ({"warmup_gap_ms": [900, 200]},
         "features.warmup_gap_ms must be [low, high] with low <= high"),
        ({"warmup_probability": 1.5}, "features.warmup_probability"),
    ],
)  # fmt: skip
def test_bad_warmup_params_are_one_line_errors(
    tiny_dataset, tiny_params, tmp_path, features, message
):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(warm_params(tiny_params, **features), sort_keys=False))
    args = ["--data", str(tiny_dataset), "--out", str(tmp_path / "f"), "--params", str(path)]
    with pytest.raises(ParamsError) as e:
        main(args)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "f").exists()


def test_backgrounds_shorter_than_the_warmup_are_named(tiny_dataset, tmp_path):
    with pytest.raises(FeaturesError, match=r"_background_noise_.*shorter than the 160000"):
        load_backgrounds(tiny_dataset, RATE, 160000)


def test_warmup_draws_its_tail_from_the_split(tiny_params):
    """The tail comes from the split's own clips (a split of one clip: that clip)."""
    p = warm_params(tiny_params, warmup_speech_probability=1.0, augment_copies=1)
    ex = [Example("yes/a.wav", 2, Path("/nonexistent/yes/a.wav"))]
    out = augment(ex, p, "training", n_background=1)
    assert len(out) == 2 and out[1].prev == Path("/nonexistent/yes/a.wav")
    assert out[1].warmup == CLIP and 200 * 16 <= out[1].gap <= 1500 * 16
