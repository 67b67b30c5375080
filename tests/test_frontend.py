"""ml.frontend: bit-exact against TFLM micro_speech's golden features, and its contracts."""

from __future__ import annotations

import base64
import copy
import zlib

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

# The first 1760 samples (enough for 5 feature slices) of micro_speech's yes_1000ms_sample_data
# (tensorflow/lite/micro/examples/micro_speech, Speech Commands' yes/f2e59fea_nohash_1.wav),
# int16 little-endian, zlib, base64.
YES_HEAD = (
    "eNo1lwlwVeUVx09ICNkgQIKBsERIBMISFg0VECagYgsUW8cWrXSbttbpaHGc6SLa1lI3bGdK1bbWEduhOBTBIFsQ"
    "IakF2hqEVJqyxqwkkoTkhYQsJLzc09857zpn7nv3fu9+33fO//8/5zuvX7s1om3YFeyyXtJ6rAG7FH42arO2agfv"
    "Xdd+HVDVITJUhkmSpEq6jJYMyZKx2HgsW8bJBJkkN8tkyZGJjNjTBMazeeMmGSUjmTNcUlhBJKpRVuxj5S7smvZo"
    "L3sM6KDG+/ppvv4Ydsjg03bJYo0MVkll/iDzWvGuWiv1hB7Vw7pfd+k2fUNf0d/or/VFt+f1Wd2oz+kLjP1Wf69/"
    "1r/pAT2mFXpOm1ghgZVvkUWyWr4uj8qTsknekF3ynhyXU3JO6uSKdEkP11WJyGWplbOMH5O98qa8II/L1+RuKcCj"
    "HnzYr3/Up/TbukJna6ZGg+bgYnAy+CA4ELwbFAd7gveD40Fl0BD0BCmao4W6Wh/Gt7f0n1pD1BkyQ4pkrXxffiLP"
    "y6uyVYqlRI5ImZTKYfzZL3tkJ6Ovy2Z8/KX8WH4g35Qvs/8imUsE2TJC4qUfROr1rJ50PA7oHi3WHUS8Tbey0w7d"
    "qbu1RN/XD7RcT+t5rYXxdlAYgAnVOImTAD46Yds00Yp9ynq1YFzPXQdvJRFtjsySBXh7j9wrX5V18rA8Juu5HpFv"
    "yf2yQu6QW2Uq3A+XBFjqg9kIs2u1DsTb4DiKghLRwAjUMAbFTGTFyZJLFJPh1/SRCvfJcDwEj2yFDmbW4cUn2Fm4"
    "+1DLdB/R/AW2/wCvL8HvJjjf5Hw/p5uJdx9RntIqYhjUUay9QO7C2+/KE+D7umwH370gXOr4HpJ94FsMwlvkJXkK"
    "JXwDRczHt0S5js9VsPS2vqxP62MwvFbX6DIYnKnTNF/n6kJdqkt0OaMP6ff0cd2AB3/Sd/Gymsijmopu81htmaxB"
    "ZetlA/w9K7+SX8jP5OfYM363AU7Xs/Mj8h3eehBtrZX7mLEKv5fJnTC9XJYQxTTyKd25jni+VjvfZbpX3wGRt7Fi"
    "7nZx7UYBR/Xf+pH+R/+L3mtg4Sr492vgDFh+ZZBh6WTUGLJrEviPh4ExkunZNsa5SGKvOFFQjKKTPrK0B732wmon"
    "2ungKUA5tl4ynKYxI5k5KXxnsrbleoLraoA3r7F/hHkRrzat2kIELXy3sdJVdNjr69u6rVxd3NtzB79HeO70nQPX"
    "4CQQvYVrqsyWhWDzRXLhXrBaLSsdqTukkF/ywMqqTgrV5oavHAkVXYNVw2sVn1bhLnFX6Sh9wu91vGG/md5q0F7M"
    "l+vkSCKqzXDVTpIp7D4VzLK9Klm0o0AsBSwG9YYjdM0jNuvkrsuf2j0ayzAbb2Z3sxZHpI3nJu4jvNtPbUp1hmy3"
    "yfCeT0Rz0NHt5PxCWYx9jqc5/DIFb8ayf6qzJex/nRU6fX+rrh1ev3u93tp3bKQd9BvZzyp9PThc1DNUhVOoqQLF"
    "fMx9pV4Ai9ivVgOafZ0eX7sD7/uIcxBUBIaFndPwNdtz2XiZDweFKHYRui2ClTvhpYinBdSHAmrIbCLKJffHE59d"
    "magljZowCkvjBIgHyQCfLZZ21/pF/DpOZTuoh6hjxbpd3yTTXuPawp3ZFiq81bqd/LqXd0p48wj1/gRRnXZ268C5"
    "G69T8TQPL+aCYhH6WUdteFR+JD8lE5+RjeToRvLyaZ6eJDOfkB9S59bJV+RLvHsXcwrAPQ/kzf90apWqKazNlXQG"
    "JZ1mz2P6d/dzFx5tpVq9xtn0O2wzNcs+X2ZkC+N/JZId5Osh/QezKplfBerN4alr2ZpORk4ArXzOiVlyGyguR+lr"
    "8OY+fHqAarEOe4CasZY8+AJoF8lS14ehnEeNHQu+I8E1Kayrxlicn8HRsPrHqq2d8EPJZjuBExgTOBhU01TUa8AN"
    "POokTtNOHX5eRCNnUEt5eOYcAPfdVJ/t2Dbifovvd/zcKQuju4CSWlgj6tmUhW+5ru15+LsEz1d5Hq8ivpVEslI+"
    "z9jd1MClqP42os9FYRbPCNdIFIw6/LSyM6KG1c/ij13n8c0y2PK4lj2bQLTFe5ke8sBskEiHk2HjQg3mynTsszxb"
    "wG6G30z2nA7TE8IcS/RTsgsdNZEVFn0FVfYo8R2BwfdQZwndwH5OIEOjREvRQTnKrcSjBmb1EHkC+2axpnG5mNhW"
    "oKr74c6YfIjrQVfaKmK/ByZvR6X5vD2e/EqDpR7yoZGYLqCzCur7v0C2jL0P+r4lnh+laO8o2VJORhvm1Y5AGxXB"
    "Oqw4769GE1E2tcPydRYxzyEzC/Go0CO/FUbscz67z3UcZlBzTfE5zMkOT4g0EBnmNd6qXr/3D1eoso1eNczDj4k9"
    "5mMpCjGESsBlH3aQ+8P4aV5WkDFnYKwBZbXBqWGUjGIz2ceUPxM/rJIsAxNTxmp0voZPu6zqrwCnxfhdAFJWkzPw"
    "bChMxdRqVb8Kb87p/7BYlTuJZ5XuXyV6Oe+1ocm7XavN1o3eUKtq1umO9E40C5Vkh11tDIWJ3vVmeVdqZ12i54tV"
    "/24/x1rYOdZJ1/mpU81Vz8ilsOq3e453+16B9712ctoZcxPr5oD2FGLPo9bMdFXOgYl5cDLXFWq5nQ93U/wEyPLO"
    "2LiIOgstnqHGgUVpHJzkKqcv+ZDPE9x/BA6nwcOir8K/Rj+P7YS2Ptz8SfIePMujvhk/8twXO/em853rXf44jz/d"
    "9x4adgsD/m/BzvNeR7LfRwaIMuqVJoF3h8FvKpbsnUMqcdv5me79SIafArHnWD+YFK4e+98wEP5v6MSuev/Q5hbx"
    "3qLVT9MWH2nxrL8c2qf+FDPrMSzWLv/fEauB8TCYhD8xBiw7JhK38TAN9c9AXZYT88McmYdZbhTAxHTnYBwq+UwJ"
    "Q5yH7rDfiWVEnXfTdtZWeW9h97WujAbeaAr7oYhH1c3svvAfVzyxJzliaY7PaP/nNVr+Dy0kKm8="
)
# The first 5 slices of micro_speech's golden features for that clip
# (micro_features/yes_micro_features_data.cc, g_yes_micro_f2e59fea_nohash_1_data).
YES_GOLDEN = [
    116,
    98,
    118,
    95,
    106,
    85,
    101,
    81,
    67,
    -18,
    -33,
    -12,
    -26,
    -128,
    9,
    34,
    56,
    45,
    9,
    -12,
    5,
    30,
    23,
    28,
    0,
    -18,
    0,
    -128,
    -60,
    -50,
    -50,
    -37,
    -60,
    -60,
    -50,
    -26,
    -33,
    -50,
    -33,
    -50,
    83,
    61,
    81,
    55,
    76,
    61,
    73,
    64,
    38,
    -8,
    -37,
    -20,
    -18,
    -20,
    48,
    29,
    52,
    41,
    55,
    18,
    25,
    37,
    44,
    37,
    8,
    15,
    -6,
    -60,
    -128,
    -50,
    -37,
    -37,
    -18,
    -37,
    -26,
    -29,
    -37,
    -60,
    -50,
    -60,
    95,
    59,
    52,
    -4,
    54,
    -18,
    68,
    43,
    31,
    -18,
    -26,
    -33,
    -37,
    -29,
    33,
    7,
    -3,
    8,
    26,
    24,
    36,
    6,
    36,
    23,
    14,
    8,
    -29,
    -37,
    -37,
    -37,
    -50,
    -50,
    -26,
    -8,
    -26,
    -37,
    -18,
    -37,
    -60,
    -77,
    50,
    48,
    83,
    44,
    56,
    -128,
    -33,
    -60,
    1,
    -26,
    -60,
    -43,
    -14,
    -23,
    -18,
    -43,
    -26,
    -33,
    13,
    -77,
    -43,
    -77,
    -33,
    -37,
    16,
    -12,
    -37,
    -50,
    -50,
    -77,
    -20,
    -43,
    -60,
    -128,
    -60,
    -77,
    -37,
    -77,
    -60,
    -128,
    37,
    -10,
    65,
    -7,
    28,
    -128,
    10,
    -77,
    -37,
    -128,
    -77,
    -128,
    -77,
    -43,
    -128,
    -128,
    -77,
    -128,
    -128,
    -128,
    -128,
    -128,
    -14,
    -128,
    -43,
    -50,
    -37,
    -77,
    -128,
    -128,
    -77,
    -43,
    -29,
    -43,
    -20,
    -60,
    -37,
    -43,
    -50,
    -128,
]


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
    v = np.array([0, 1, 332, 333, 666, 33000, 65535], dtype=np.uint16)
    expected = [max(-128, min(127, (int(x) * 256 + 333) // 666 - 128)) for x in v]
    assert to_int8(v).tolist() == expected
    assert to_int8(v).tolist()[0] == -128 and to_int8(v).tolist()[-1] == 127


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
    assert stream_features(audio, fe, 16000).shape == (num_frames(len(audio), fe, 16000), 40)
    assert num_frames(16000, fe, 16000) == 49


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
