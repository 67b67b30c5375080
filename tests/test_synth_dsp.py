"""ml.synth.dsp, ml.specaugment and ml.transfer's row selection: pure functions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml import specaugment
from ml.synth import dsp
from ml.synth.common import rng_for
from ml.transfer import engine_of, split_rows

SR = 16000


def peak_hz(x: np.ndarray, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spec)])


def tone(hz: float, seconds: float = 0.5) -> np.ndarray:
    return np.sin(2 * np.pi * hz * np.arange(int(SR * seconds)) / SR)


def test_warp_scales_frequencies_and_duration() -> None:
    x = tone(1000.0)
    up, down = dsp.warp(x, 1.1), dsp.warp(x, 0.9)
    assert abs(peak_hz(up) - 1100) < 15 and abs(peak_hz(down) - 900) < 15
    assert abs(len(up) - len(x) / 1.1) < 5 and abs(len(down) - len(x) / 0.9) < 5
    assert dsp.warp(x, 1.0) is x


def test_resample_keeps_a_tone() -> None:
    x = np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)
    y = dsp.resample(x, 22050, SR)
    assert len(y) == SR and abs(peak_hz(y) - 440) < 3


def test_room_response_is_direct_path_first_and_reverberant() -> None:
    rng = rng_for(1, "room")
    small = dsp.draw_room(
        rng, width=(3, 3), depth=(3, 3), height=(2.5, 2.5), rt60=(0.2, 0.2), distance=(0.5, 0.5)
    )
    large = dsp.draw_room(
        rng, width=(9, 9), depth=(8, 8), height=(3.5, 3.5), rt60=(0.8, 0.8), distance=(2.5, 2.5)
    )
    hs, hl = dsp.room_response(small, SR, 10), dsp.room_response(large, SR, 10)
    for h in (hs, hl):
        assert abs(np.sum(h**2) - 1) < 1e-9 and np.argmax(np.abs(h)) == 8
    # a large live room with a far talker keeps more energy after 50 ms
    late = SR // 20
    assert np.sum(hl[late:] ** 2) > 2 * np.sum(hs[late:] ** 2)
    assert np.array_equal(hs, dsp.room_response(small, SR, 10))  # deterministic


def test_microphone_limits_the_band() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SR)
    y = dsp.microphone(x, SR, 300.0, 3400.0, (1000.0, 0.0, 1.0))
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(SR, 1 / SR)
    inband = spec[(f > 500) & (f < 3000)].mean()
    assert spec[f > 5000].mean() < inband / 100
    assert spec[f < 80].mean() < inband / 10


def test_split_on_pauses_cuts_at_long_silences_only() -> None:
    sr = 22050
    t = 0.3 * (-1.0) ** np.arange(sr // 4)  # never quiet
    short_gap, long_gap = np.zeros(sr // 10), np.zeros(sr)  # 100 ms (inside a word), 1 s
    x = np.concatenate([long_gap, t, short_gap, t, long_gap, t, long_gap])
    pieces = dsp.split_on_pauses(x, sr, 400, 50)
    pad = sr * 50 // 1000
    assert [len(p) for p in pieces] == [2 * len(t) + len(short_gap) + 2 * pad, len(t) + 2 * pad]


def test_specaugment_masks_runs_and_is_seeded() -> None:
    sa = {"time_masks": 2, "time_mask_frames": 6, "freq_masks": 2, "freq_mask_channels": 5}
    x = np.ones((64, 49, 40), np.float32)
    a = specaugment.mask_batch(x, sa, np.random.default_rng(3))
    b = specaugment.mask_batch(x, sa, np.random.default_rng(3))
    assert np.array_equal(a, b) and np.all(x == 1)  # seeded, input untouched
    zeros = a == 0
    assert zeros.any() and not zeros.all()
    # a masked frame is masked in every channel, or a channel in every frame
    for ex in zeros:
        full_rows, full_cols = ex.all(axis=1), ex.all(axis=0)
        assert np.array_equal(ex, full_rows[:, None] | full_cols[None, :])
        assert full_rows.sum() <= 12 and full_cols.sum() <= 10
    off = {k: 0 for k in sa}
    assert not specaugment.enabled(off)


def test_transfer_rows_by_engine() -> None:
    names = np.array(
        [
            "yes/flite-0a1b2c3d_nohash_0.wav",
            "yes/flite-0a1b2c3d_nohash_0.wav#aug1",
            "no/espeak-12345678_nohash_0.wav",
            "silence",
            "silence#aug1",
            "bed/0a2b3c4d_nohash_1.wav",  # a real Speech Commands speaker: no engine
        ]
    )
    assert engine_of(str(names[0])) == "flite" and engine_of("silence") is None
    assert engine_of(str(names[5])) is None
    train, test = split_rows(names, "flite")
    assert train.tolist() == [False, False, True, True, True, True]
    assert test.tolist() == [True, False, False, False, False, False]


def test_mix_real_adds_clips_lists_and_backgrounds(tmp_path: Path) -> None:
    import pytest

    from ml.audio import write_wav
    from ml.synth import SynthError
    from ml.synth.mix import mix_real

    tone16 = (1000 * np.sin(np.arange(SR) / 5)).astype(np.int16)
    tree, real = tmp_path / "tree", tmp_path / "real"
    write_wav(tree / "yes" / "espeak-0000000a_nohash_0.wav", tone16, SR)
    write_wav(tree / "_background_noise_" / "white_noise.wav", tone16, SR)
    (tree / "validation_list.txt").write_text("yes/espeak-0000000a_nohash_0.wav\n")
    (tree / "testing_list.txt").write_text("")
    write_wav(real / "yes" / "0a1b2c3d_nohash_0.wav", tone16, SR)
    write_wav(real / "house" / "0a1b2c3d_nohash_1.wav", tone16, SR)
    write_wav(real / "_background_noise_" / "white_noise.wav", tone16, SR)
    (real / "validation_list.txt").write_text("")
    (real / "testing_list.txt").write_text("house/0a1b2c3d_nohash_1.wav\n")
    assert mix_real(tree, real) == 2
    assert (tree / "house" / "0a1b2c3d_nohash_1.wav").is_file()
    assert sorted(p.name for p in (tree / "_background_noise_").iterdir()) == [
        "real_white_noise.wav",
        "white_noise.wav",
    ]
    assert (tree / "testing_list.txt").read_text() == "house/0a1b2c3d_nohash_1.wav\n"
    assert (tree / "validation_list.txt").read_text() == "yes/espeak-0000000a_nohash_0.wav\n"
    with pytest.raises(SynthError, match="clashes with a generated clip"):
        mix_real(tree, real)
    with pytest.raises(SynthError, match="no real Speech Commands here"):
        mix_real(tree, tmp_path / "none")
