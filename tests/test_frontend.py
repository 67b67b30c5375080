"""ml.frontend: bit-exact against TFLM micro_speech's golden features, and its contracts."""

from __future__ import annotations

import base64
import copy
import zlib
from pathlib import Path

import numpy as np
import pytest

from ml.frontend import (
    INPUT_SCALE,
    FrontendError,
    compute_features,
    compute_features_batch,
    dequantize_features,
    num_frames,
    stream_features,
    to_int8,
)
from ml.params import load_params

DATA = Path(__file__).parent / "data" / "micro_speech"
# The first 1760 samples (enough for 5 feature slices) of micro_speech's yes_1000ms_sample_data
# (tensorflow/lite/micro/examples/micro_speech, Speech Commands' yes/f2e59fea_nohash_1.wav),
# int16 little-endian, zlib, base64; and the first 5 slices of micro_speech's golden features
# for that clip (micro_features/yes_micro_features_data.cc, g_yes_micro_f2e59fea_nohash_1_data),
# one slice of 40 int8 values a line. Both are TFLM's files, not outputs of our code.
YES_HEAD = "".join((DATA / "yes_head.b64").read_text().split())
YES_GOLDEN = [int(v) for v in (DATA / "yes_golden_features.txt").read_text().split()]


@pytest.fixture(scope="module")
def params():
    return load_params("params.yaml")


def yes_head() -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(YES_HEAD)), dtype="<i2").astype(np.int16)


def test_default_params_reproduce_micro_speech_golden_features(params):
    audio = yes_head()
    assert len(audio) == 1760
    got = stream_features(audio, params["frontend"], 16000)
    assert got.dtype == np.int8 and got.shape == (5, 40)
    assert got.flatten().tolist() == YES_GOLDEN


def test_clip_features_start_like_the_golden_clip(params):
    # A 1 s clip whose first 1760 samples are the golden clip's: its first 5 slices match.
    audio = yes_head()
    feats = compute_features(audio, params["frontend"], 16000, 16000)
    assert feats.shape == (49, 40)
    assert feats[:5].flatten().tolist() == YES_GOLDEN
    # zero padding at the end: the rest is silence, far below the speech slices
    assert feats[-1].max() < feats[0].max()


def test_int8_mapping_matches_micro_speech():
    # clamp((v * 256 + 333) // 666 - 128, -128, 127), worked by hand:
    #   1: 589 // 666 = 0 -> -128         2: 845 // 666 = 1 -> -127 (to nearest, not down)
    #   331: 85069 // 666 = 127 -> -1     332: 85325 // 666 = 128 -> 0
    #   500: 128333 // 666 = 192 -> 64    664: 170317 // 666 = 255 -> 127
    #   665: 170573 // 666 = 256 -> 128, clamped to 127 (as are 33000 and 65535)
    v = np.array([0, 1, 2, 331, 332, 500, 664, 665, 33000, 65535], dtype=np.uint16)
    assert to_int8(v).tolist() == [-128, -128, -127, -1, 0, 64, 127, 127, 127, 127]


def test_dequantize_is_the_model_input_quantization():
    x = np.array([-128, 0, 127], dtype=np.int8)
    f = dequantize_features(x)
    assert f.dtype == np.float32
    assert f.tolist() == pytest.approx([0.0, 128 * INPUT_SCALE, 255 * INPUT_SCALE])
    assert np.round(f / INPUT_SCALE - 128).astype(int).tolist() == x.tolist()


def test_batch_and_stream_equal_single_clip(params):
    rng = np.random.default_rng(0)
    clips = [(rng.standard_normal(16000) * 2000).astype(np.int16) for _ in range(3)]
    clips.append(yes_head())  # shorter: zero-padded like compute_features
    fe = params["frontend"]
    single = np.stack([compute_features(c, fe, 16000, 16000) for c in clips])
    done = []
    batch = compute_features_batch(clips, fe, 16000, 16000, progress=done.append)
    assert batch.dtype == np.int8 and batch.shape == (4, 49, 40)
    assert np.array_equal(batch, single)
    assert sum(done) == 4
    # one 1 s clip through the streaming front-end = the clip's features (same fresh state)
    assert np.array_equal(stream_features(clips[0], fe, 16000), single[0])


def test_stream_frames_cover_the_recording(params):
    fe = params["frontend"]
    audio = np.zeros(16000 * 3, dtype=np.int16)
    # 30 ms windows (480 samples) every 20 ms (320): 1 + (48000 - 480) // 320 = 1 + 148
    assert stream_features(audio, fe, 16000).shape == (149, 40)
    assert num_frames(len(audio), fe, 16000) == 149
    assert num_frames(16000, fe, 16000) == 49  # 1 + (16000 - 480) // 320 = 1 + 48
    assert num_frames(479, fe, 16000) == 0  # shorter than one window


def test_frontend_params_are_honoured(params):
    fe = copy.deepcopy(params["frontend"])
    fe["num_channels"] = 20
    fe["window_stride_ms"] = 10
    feats = compute_features(yes_head(), fe, 16000, 16000)
    assert feats.shape == (98, 20)
    assert len(compute_features_batch([], fe, 16000, 16000)) == 0


def test_bad_audio_is_a_one_line_error(params):
    fe = params["frontend"]
    with pytest.raises(FrontendError) as e:
        compute_features(np.zeros(16001, np.int16), fe, 16000, 16000)
    assert str(e.value) == "compute_features: 16001 samples is longer than the clip (16000)"
    with pytest.raises(FrontendError) as e:
        compute_features(np.zeros(100, np.float32), fe, 16000, 16000)
    assert str(e.value) == "compute_features: audio must be int16, got float32"
    with pytest.raises(FrontendError) as e:
        compute_features_batch(
            [np.zeros(10, np.int16), np.zeros((2, 2), np.int16)], fe, 16000, 16000
        )
    assert str(e.value) == "clip 1: audio must be 1-D, got shape (2, 2)"
