"""Keras model builders: `ds_cnn` (MLPerf Tiny KWS reference shape), `tiny_conv`
(TFLM micro_speech's model) and `tc_resnet` (TC-ResNet, Choi et al., Interspeech 2019: 1-D
temporal convolutions with the frequency channels as input channels, few MACs).

All take the float features of `ml.frontend.dequantize_features` with shape
(frames, channels) and end in a softmax, and use only ops the firmware's op resolver
registers once converted to int8 (firmware/core/supported_ops.def): RESHAPE, CONV_2D,
DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, ADD, SOFTMAX (batch norm folds into the convolutions, ReLU
fuses into them, dropout vanishes; the classifier is a CONV_2D, see `classifier_head`).

We build with tf-keras (Keras 2), not Keras 3: tensorflow-model-optimization's QAT only
works with it, and the saved model must load in ml.quantize.
"""

from __future__ import annotations

import os
from typing import Any

from ml.errors import KwsError

# tfmot picks tf_keras only when this is set before TensorFlow is imported; the Makefile
# exports it too. Setting it here keeps `python -m ml.train` and tests consistent.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tf_keras as keras

WEIGHT_DECAY = 1e-4  # as the MLPerf Tiny DS-CNN reference
# Keras' 0.99 needs thousands of steps before the moving statistics fit the data; our
# datasets give a few dozen steps per epoch, so validation would lag training for epochs.
BN_MOMENTUM = 0.9


class ModelError(KwsError):
    """The model parameters do not describe a buildable model."""


def _l2() -> Any:
    return keras.regularizers.l2(WEIGHT_DECAY)


def classifier_head(x: Any, num_labels: int) -> Any:
    """Fully connected layer + softmax, built as a conv over the whole feature map.

    Equivalent to Flatten + Dense, but converts to CONV_2D instead of FULLY_CONNECTED:
    TensorFlow Lite's reference FULLY_CONNECTED requantizes in float since TF 2.20 while
    TFLM uses integer double rounding, so a Dense head makes TFLM and TFLite disagree by
    one step on some outputs; CONV_2D is bit-exact between them (ml.evaluate's gate).
    """
    kernel = tuple(int(d) for d in x.shape[1:3])
    x = keras.layers.Conv2D(num_labels, kernel, padding="valid", name="logits")(x)
    x = keras.layers.Flatten()(x)
    return keras.layers.Softmax(name="scores")(x)


def build_ds_cnn(p: dict[str, Any], input_shape: tuple[int, int], num_labels: int) -> Any:
    """MLPerf Tiny KWS DS-CNN: conv -> `blocks` x (depthwise 3x3, pointwise 1x1) -> pool."""
    frames, channels = input_shape
    inputs = keras.Input(shape=(frames, channels), name="features")
    x = keras.layers.Reshape((frames, channels, 1))(inputs)
    x = keras.layers.Conv2D(
        p["filters"],
        tuple(p["first_kernel"]),
        strides=tuple(p["first_stride"]),
        padding="same",
        use_bias=False,
        kernel_regularizer=_l2(),
    )(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    x = keras.layers.ReLU()(x)
    if p["dropout"]:
        x = keras.layers.Dropout(p["dropout"])(x)
    for _ in range(p["blocks"]):
        x = keras.layers.DepthwiseConv2D(
            (3, 3), padding="same", use_bias=False, depthwise_regularizer=_l2()
        )(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.Conv2D(
            p["filters"], (1, 1), padding="same", use_bias=False, kernel_regularizer=_l2()
        )(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = keras.layers.ReLU()(x)
    if p["dropout"]:
        x = keras.layers.Dropout(min(0.95, 2 * p["dropout"]))(x)  # reference: 0.2 then 0.4
    # Average over the whole remaining map (the reference's final_pool_size).
    x = keras.layers.AveragePooling2D(pool_size=tuple(int(d) for d in x.shape[1:3]))(x)
    outputs = classifier_head(x, num_labels)
    return keras.Model(inputs, outputs, name="ds_cnn")


def build_tiny_conv(p: dict[str, Any], input_shape: tuple[int, int], num_labels: int) -> Any:
    """micro_speech's tiny_conv: one strided conv + ReLU, dropout, fully connected."""
    frames, channels = input_shape
    inputs = keras.Input(shape=(frames, channels), name="features")
    x = keras.layers.Reshape((frames, channels, 1))(inputs)
    x = keras.layers.Conv2D(
        p["filters"],
        tuple(p["kernel"]),
        strides=tuple(p["stride"]),
        padding="same",
        activation="relu",
    )(x)
    if p["dropout"]:
        x = keras.layers.Dropout(p["dropout"])(x)
    outputs = classifier_head(x, num_labels)
    return keras.Model(inputs, outputs, name="tiny_conv")


def tc_resnet_channels(width: int, blocks: int) -> list[int]:
    """Output channels of each residual block: width x 1.5, 2, 3, 4, ... (TC-ResNet8 at
    width 16: 24, 32, 48)."""
    return [round(width * (1.5 if i == 0 else i + 1)) for i in range(blocks)]


def _bn_relu(x: Any, relu: bool = True) -> Any:
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    return keras.layers.ReLU()(x) if relu else x


def build_tc_resnet(p: dict[str, Any], input_shape: tuple[int, int], num_labels: int) -> Any:
    """TC-ResNet: (frames, 1, channels) input, a (3 x 1) conv, then `blocks` residual blocks
    of two (kernel x 1) convs, each block halving time; a strided block's shortcut is a 1x1
    conv. Converts to CONV_2D, ADD (ReLU fused), AVERAGE_POOL_2D, RESHAPE, SOFTMAX."""
    frames, channels = input_shape
    k = int(p["kernel"])
    inputs = keras.Input(shape=(frames, channels), name="features")
    x = keras.layers.Reshape((frames, 1, channels))(inputs)
    x = keras.layers.Conv2D(
        p["width"],
        (3, 1),
        strides=(int(p["first_stride"]), 1),
        padding="same",
        use_bias=False,
        kernel_regularizer=_l2(),
    )(x)
    x = _bn_relu(x)
    for ch in tc_resnet_channels(int(p["width"]), int(p["blocks"])):
        y = keras.layers.Conv2D(
            ch, (k, 1), strides=(2, 1), padding="same", use_bias=False, kernel_regularizer=_l2()
        )(x)
        y = _bn_relu(y)
        y = keras.layers.Conv2D(
            ch, (k, 1), padding="same", use_bias=False, kernel_regularizer=_l2()
        )(y)
        y = _bn_relu(y, relu=False)
        s = keras.layers.Conv2D(
            ch, (1, 1), strides=(2, 1), padding="same", use_bias=False, kernel_regularizer=_l2()
        )(x)
        s = _bn_relu(s)
        x = keras.layers.ReLU()(keras.layers.Add()([y, s]))
    if p["dropout"]:
        x = keras.layers.Dropout(p["dropout"])(x)
    x = keras.layers.AveragePooling2D(pool_size=tuple(int(d) for d in x.shape[1:3]))(x)
    outputs = classifier_head(x, num_labels)
    return keras.Model(inputs, outputs, name="tc_resnet")


BUILDERS = {"ds_cnn": build_ds_cnn, "tiny_conv": build_tiny_conv, "tc_resnet": build_tc_resnet}


def build_model(model_params: dict[str, Any], input_shape: tuple, num_labels: int) -> Any:
    """The params.yaml `model` section's architecture, for (frames, channels) inputs."""
    arch = model_params["architecture"]
    if arch not in BUILDERS:
        raise ModelError(f"model.architecture = {arch!r} must be one of {', '.join(BUILDERS)}")
    if len(input_shape) != 2 or min(input_shape) < 1:
        raise ModelError(f"model input shape {tuple(input_shape)} must be (frames, channels)")
    if num_labels < 2:
        raise ModelError(f"model needs at least 2 labels, got {num_labels}")
    try:
        return BUILDERS[arch](model_params[arch], tuple(input_shape), num_labels)
    except ValueError as exc:  # e.g. a kernel larger than the feature map
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(
            f"model.{arch}: cannot build for input {tuple(input_shape)}: {msg}"
        ) from None
