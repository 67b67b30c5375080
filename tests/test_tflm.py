"""ml/tflm.py on small int8 models built here (no dataset needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ml import tflm
from ml.errors import KwsError

FRAMES, CHANNELS, LABELS = 49, 40, 12


def convert(model: object, seed: int = 0) -> bytes:
    """Full-integer int8 conversion, as ml.quantize does."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def rep():
        for _ in range(16):
            yield [rng.uniform(0.0, 26.0, (1, FRAMES, CHANNELS)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return bytes(conv.convert())


def small_model(head: str = "conv", activation: str = "relu") -> bytes:
    """conv 8x(10,8)/2 -> depthwise 3x3 -> average pool -> head -> softmax."""
    import tf_keras as keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((FRAMES, CHANNELS), batch_size=1)
    x = keras.layers.Reshape((FRAMES, CHANNELS, 1))(inp)
    x = keras.layers.Conv2D(8, (10, 8), strides=2, padding="same", activation=activation)(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras.layers.AveragePooling2D((25, 20))(x)
    if head == "conv":
        x = keras.layers.Conv2D(LABELS, 1)(x)
        x = keras.layers.Flatten()(x)
    else:
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(LABELS)(x)
    out = keras.layers.Softmax()(x)
    return convert(keras.Model(inp, out))


@pytest.fixture(scope="module")
def model() -> bytes:
    return small_model()


@pytest.fixture(scope="module")
def features() -> np.ndarray:
    return np.random.default_rng(3).integers(-128, 128, (64, FRAMES, CHANNELS)).astype(np.int8)


def test_ops(model: bytes) -> None:
    assert tflm.model_ops(model) == [
        "AVERAGE_POOL_2D",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "RESHAPE",
        "SOFTMAX",
    ]


def test_macs_by_hand(model: bytes) -> None:
    conv = 25 * 20 * 8 * (10 * 8 * 1)  # output elements x kernel x input channels
    depthwise = 25 * 20 * 8 * (3 * 3)
    head = 1 * 1 * LABELS * 8
    assert tflm.count_macs(model) == conv + depthwise + head


def test_macs_of_fully_connected() -> None:
    dense = small_model(head="dense")
    assert "FULLY_CONNECTED" in tflm.model_ops(dense)
    assert tflm.count_macs(dense) == 25 * 20 * 8 * 80 + 25 * 20 * 8 * 9 + LABELS * 8


def test_io(model: bytes) -> None:
    io = tflm.model_io(model)
    assert io["input"]["shape"] == [1, FRAMES, CHANNELS]
    assert io["input"]["dtype"] == "int8"
    assert io["output"] == {
        "shape": [1, LABELS],
        "dtype": "int8",
        "scale": 1.0 / 256.0,
        "zero_point": -128,
    }
    assert io["input"]["scale"] > 0


def test_tflm_equals_tflite_reference(model: bytes, features: np.ndarray) -> None:
    a = tflm.run_tflm(model, features)
    b = tflm.run_tflite(model, features)
    assert a.shape == (len(features), LABELS)
    assert a.dtype == np.int8
    assert np.array_equal(a, b)
    # one sample at a time gives the same as the batch loop
    assert np.array_equal(tflm.run_tflm(model, features[:1]), a[:1])


def test_measured_arena_is_enough_and_tight(model: bytes, features: np.ndarray) -> None:
    arena = tflm.measure_arena(model)
    assert 1024 < arena < tflm.default_arena(model)
    assert tflm.measure_arena(model) == arena  # deterministic
    out = tflm.run_tflm(model, features[:4], arena_size=arena)
    assert np.array_equal(out, tflm.run_tflite(model, features[:4]))
    with pytest.raises(KwsError, match=r"^model: TFLM cannot load it"):
        tflm.run_tflm(model, features[:1], arena_size=arena // 2)


def test_read_model_errors(tmp_path: Path) -> None:
    with pytest.raises(KwsError) as exc:
        tflm.read_model(tmp_path / "missing.tflite")
    assert str(exc.value) == f"{tmp_path / 'missing.tflite'}: model file not found"
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(KwsError) as exc:
        tflm.read_model(bad)
    assert str(exc.value) == f"{bad}: not a TFLite flatbuffer (no TFL3 identifier)"


def test_wrong_input_is_an_error(model: bytes) -> None:
    with pytest.raises(KwsError) as exc:
        tflm.run_tflm(model, np.zeros((2, 10, 40), dtype=np.int8))
    assert str(exc.value) == (
        "model input: each sample must have 1960 values (1, 49, 40), got shape (10, 40)"
    )
    with pytest.raises(KwsError) as exc:
        tflm.run_tflm(model, np.zeros((2, 49, 40), dtype=np.float32))
    assert str(exc.value) == "model input: features must be int8, got float32"
