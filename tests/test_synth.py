"""ml.synth: the offline Speech Commands look-alike (layout, determinism, errors)."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ml import synth as synth_mod
from ml.audio import read_wav
from ml.dataset import which_set
from ml.params import ParamsError, load_params
from ml.synth import (
    SynthError,
    check_generated,
    check_synth_params,
    check_voices,
    make_speakers,
    synthesize,
)

REPO = Path(__file__).resolve().parents[1]


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def small_params() -> dict[str, Any]:
    params = load_params(REPO / "params.yaml")
    params["synth"].update(unknown_words_per_speaker=1, background_seconds=2)
    return params


def test_defaults_meet_the_brief() -> None:
    sp = load_params(REPO / "params.yaml")["synth"]
    assert sp["speakers"] >= 150
    assert len(sp["unknown_words"]) >= 20
    check_voices({"synth": sp})  # every configured accent and variant exists in espeak-ng


def test_same_seed_same_bytes_whatever_the_workers(
    small_params: dict[str, Any], tmp_path: Path
) -> None:
    a = synthesize(tmp_path / "a", small_params, speakers=3, seed=5, workers=2, progress=False)
    synthesize(tmp_path / "b", small_params, speakers=3, seed=5, workers=1, progress=False)
    da, db = tree_digest(tmp_path / "a"), tree_digest(tmp_path / "b")
    assert da == db
    assert len([k for k in da if k.endswith(".wav")]) == a["clips"] + 5 == 3 * 11 + 5
    synthesize(tmp_path / "c", small_params, speakers=3, seed=6, workers=2, progress=False)
    dc = tree_digest(tmp_path / "c")
    assert not set(da.items()) & {(k, v) for k, v in dc.items() if k.endswith(".wav")}


def test_regenerating_replaces_the_tree(small_params: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "sc"
    synthesize(out, small_params, speakers=4, seed=1, workers=1, progress=False)
    before = tree_digest(out)
    synthesize(out, small_params, speakers=3, seed=1, workers=1, progress=False)
    after = tree_digest(out)
    # speakers are a prefix: the 3-speaker tree is a subset, and no stale files remain
    assert set(after) < set(before)
    assert all(before[k] == v for k, v in after.items() if k.endswith(".wav"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sc"]


def test_layout_and_audio(tiny_dataset: Path, tiny_params: dict[str, Any]) -> None:
    ds, sp = tiny_params["dataset"], tiny_params["synth"]
    info = json.loads((tiny_dataset / "synth_info.json").read_text())
    speakers = {s["id"] for s in info["speakers"]}
    assert len(speakers) == sp["speakers"]
    clips = sorted(p for p in tiny_dataset.glob("*/*.wav") if p.parent.name != "_background_noise_")
    assert {p.parent.name for p in clips} >= set(ds["keywords"])
    assert {p.parent.name for p in clips} - set(ds["keywords"]) <= set(sp["unknown_words"])
    assert len(clips) == info["clips"] == sp["speakers"] * (10 + sp["unknown_words_per_speaker"])
    peaks = []
    for p in clips:
        m = re.fullmatch(r"([0-9a-f]{8})_nohash_(\d+)\.wav", p.name)
        assert m and m.group(1) in speakers
        audio, rate = read_wav(p)
        assert rate == 16000 and audio.dtype == np.int16 and len(audio) == 16000
        peaks.append(20 * np.log10(np.abs(audio.astype(float)).max() / 32767))
    # per-utterance gain stays within the configured range (noise adds a little)
    assert sp["peak_dbfs_min"] - 1 < min(peaks) and max(peaks) < sp["peak_dbfs_max"] + 1
    assert max(peaks) - min(peaks) > 6
    for split in ("validation", "testing"):
        listed = (tiny_dataset / f"{split}_list.txt").read_text().split()
        expected = [
            str(p.relative_to(tiny_dataset))
            for p in clips
            if which_set(p.name, ds["validation_percentage"], ds["testing_percentage"]) == split
        ]
        assert listed == sorted(expected) and listed
    bg = sorted(p.name for p in (tiny_dataset / "_background_noise_").glob("*.wav"))
    assert bg == [
        "brown_noise.wav",
        "hum_50hz.wav",
        "hum_60hz.wav",
        "pink_noise.wav",
        "white_noise.wav",
    ]
    for name in bg:
        audio, rate = read_wav(tiny_dataset / "_background_noise_" / name)
        assert rate == 16000 and len(audio) == sp["background_seconds"] * 16000
        rms_db = 20 * np.log10(np.sqrt(np.mean(audio.astype(float) ** 2)) / 32767)
        assert abs(rms_db - sp["background_rms_dbfs"]) < 0.5


def test_hum_has_its_mains_frequency(tiny_dataset: Path) -> None:
    for mains in (50, 60):
        audio, rate = read_wav(tiny_dataset / "_background_noise_" / f"hum_{mains}hz.wav")
        spec = np.abs(np.fft.rfft(audio.astype(float)))
        freqs = np.fft.rfftfreq(len(audio), 1 / rate)
        assert abs(freqs[np.argmax(spec)] - mains) < 2


def test_the_word_sits_inside_the_clip(tiny_dataset: Path) -> None:
    """Energy is concentrated in a 190-900 ms stretch, not smeared over the whole second."""
    for p in sorted(tiny_dataset.glob("yes/*.wav")):
        audio = read_wav(p)[0].astype(float)
        rms = np.sqrt((audio.reshape(100, 160) ** 2).mean(axis=1))
        loud = np.flatnonzero(rms > rms.max() * 0.1)
        assert 10 <= loud[-1] - loud[0] + 1 <= 90, p


def test_speakers_are_a_stable_prefix(small_params: dict[str, Any]) -> None:
    sp = small_params["synth"]
    many, few = make_speakers(40, 9, sp), make_speakers(10, 9, sp)
    assert many[:10] == few
    assert len({s.id for s in many}) == 40
    s = many[0]
    assert (
        s.id
        == hashlib.sha1(f"9|{s.accent}|{s.variant}|{s.rate}|{s.pitch}".encode()).hexdigest()[:8]
    )
    assert (
        sp["rate_wpm"][0]
        <= min(x.rate for x in many)
        <= max(x.rate for x in many)
        <= sp["rate_wpm"][1]
    )
    assert make_speakers(10, 10, sp) != few


def test_unknown_variant_is_refused(small_params: dict[str, Any], tmp_path: Path) -> None:
    params = copy.deepcopy(small_params)
    params["synth"]["variants"] = ["m3", "nosuchvoice"]
    with pytest.raises(SynthError) as exc:
        synthesize(tmp_path / "x", params, speakers=3, seed=1, workers=1, progress=False)
    assert str(exc.value).endswith("espeak-ng voice variant(s) not found: nosuchvoice")
    assert not (tmp_path / "x").exists()


def test_unknown_accent_is_refused(small_params: dict[str, Any], tmp_path: Path) -> None:
    params = copy.deepcopy(small_params)
    params["synth"]["accents"] = ["en-us", "xx-nowhere"]
    with pytest.raises(SynthError) as exc:
        synthesize(tmp_path / "x", params, speakers=3, seed=1, workers=1, progress=False)
    assert str(exc.value) == (
        "espeak-ng -v xx-nowhere 'a': Error: The specified espeak-ng voice does not exist."
    )


def test_param_relations(small_params: dict[str, Any]) -> None:
    params = copy.deepcopy(small_params)
    params["synth"]["snr_db_min"] = 50.0
    with pytest.raises(ParamsError) as exc:
        check_synth_params(params, "p.yaml")
    assert str(exc.value) == "p.yaml: synth.snr_db_min must not exceed synth.snr_db_max"
    params = copy.deepcopy(small_params)
    params["synth"]["unknown_words"] = ["bed", "yes"]
    with pytest.raises(ParamsError) as exc:
        check_synth_params(params, "p.yaml")
    assert str(exc.value) == "p.yaml: synth.unknown_words contains keywords: yes"


def test_cli(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "ml.synth", "--out", str(tmp_path / "sc"), "--speakers", "0"]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 1
    assert res.stderr.strip() == "error: --speakers = 0 must be at least 1"
    assert not (tmp_path / "sc").exists()


def test_check_detects_stale_settings(tiny_dataset: Path, tiny_params: dict[str, Any]) -> None:
    sp = tiny_params["synth"]
    check_generated(tiny_dataset, tiny_params, sp["speakers"], sp["seed"])  # matches
    with pytest.raises(SynthError) as exc:
        check_generated(tiny_dataset, tiny_params, sp["speakers"] + 1, sp["seed"])
    info = tiny_dataset / "synth_info.json"
    assert str(exc.value) == f"{info}: clips differs from the current params; regenerate"
    changed = copy.deepcopy(tiny_params)
    changed["synth"]["snr_db_min"] = 10.0
    with pytest.raises(SynthError) as exc:
        check_generated(tiny_dataset, changed, sp["speakers"], sp["seed"])
    assert str(exc.value) == f"{info}: synth differs from the current params; regenerate"


def test_check_passes_data_not_made_by_synth(tmp_path: Path, small_params: dict[str, Any]) -> None:
    (tmp_path / "real").mkdir()
    check_generated(tmp_path / "real", small_params, 3, 1)
    with pytest.raises(SynthError) as exc:
        check_generated(tmp_path / "nope", small_params, 3, 1)
    assert str(exc.value) == f"{tmp_path / 'nope'}: dataset directory not found"


def test_split_on_pauses_cuts_at_long_silences_only() -> None:
    sr = synth_mod.ESPEAK_RATE
    tone = 0.3 * (-1.0) ** np.arange(sr // 4)  # never quiet
    short_gap, long_gap = np.zeros(sr // 10), np.zeros(sr)  # 100 ms (inside a word), 1 s
    x = np.concatenate([long_gap, tone, short_gap, tone, long_gap, tone, long_gap])
    pieces = synth_mod.split_on_pauses(x, sr)
    pad = sr * synth_mod.PAD_MS // 1000
    assert [len(p) for p in pieces] == [
        2 * len(tone) + len(short_gap) + 2 * pad,
        len(tone) + 2 * pad,
    ]


def test_batch_that_does_not_split_is_spoken_word_by_word(
    small_params: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synth_mod, "speak_batch", lambda spk, items: None)
    synthesize(tmp_path / "a", small_params, speakers=2, seed=3, workers=1, progress=False)
    synthesize(tmp_path / "b", small_params, speakers=2, seed=3, workers=1, progress=False)
    da = tree_digest(tmp_path / "a")
    assert da == tree_digest(tmp_path / "b")
    for rel in da:
        if rel.endswith(".wav") and not rel.startswith("_background"):
            audio, rate = read_wav(tmp_path / "a" / rel)
            assert rate == 16000 and len(audio) == 16000 and np.abs(audio).max() > 1000


def _exp_matches_libm(_: int) -> bool:
    import math

    x = np.linspace(-20.0, 20.0, 100_001)
    return bool(np.array_equal(np.exp(x), np.array([math.exp(v) for v in x])))


def test_workers_use_portable_numpy_kernels() -> None:
    """In the generator's workers numpy's exp is the C library's, whatever the CPU."""
    import multiprocessing

    with synth_mod._portable_numpy(), multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.map(_exp_matches_libm, [0]) == [True]
