"""Audio -> int8 features, bit-identical to the TFLM micro_speech front-end.

TensorFlow's `audio_microfrontend` op wraps the same C library (tensorflow/lite/experimental/
microfrontend) the firmware runs, so training and device see the same numbers. The op gives
uint16 log-mel energies; micro_speech maps them to int8 with
`clamp(((v * 256) + 333) // 666 - 128, -128, 127)`, i.e. v * 10/256 (the float features of
TF speech_commands' `preprocess='micro'`) quantized with scale 26/256 = 0.1015625... and
zero point -128. The model's int8 input tensor uses exactly that quantization, so the int8
features go into the model unchanged (see ml/quantize.py).

Every call starts from a fresh front-end state (noise estimates at zero), as TensorFlow's
speech_commands training does; `stream_features` runs one state over a long recording, as
the device does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from ml.errors import KwsError

# The model input's quantization that makes the int8 features an identity mapping:
# float_feature = (int8 + 128) * INPUT_SCALE, where float_feature = v * 10 / 256.
INPUT_SCALE = 26.0 / 256.0
INPUT_ZERO_POINT = -128
BATCH = 256  # clips per graph call in compute_features_batch


class FrontendError(KwsError):
    """Audio the front-end cannot take (wrong type, too long, bad parameters)."""


def _tf() -> Any:
    import tensorflow as tf

    return tf


def _op() -> Any:
    from tensorflow.lite.experimental.microfrontend.python.ops import (
        audio_microfrontend_op,
    )

    return audio_microfrontend_op.audio_microfrontend


def op_kwargs(fe: dict[str, Any], sample_rate: int) -> dict[str, Any]:
    """The params.yaml `frontend` section as audio_microfrontend keyword arguments."""
    return {
        "sample_rate": int(sample_rate),
        "window_size": int(fe["window_size_ms"]),
        "window_step": int(fe["window_stride_ms"]),
        "num_channels": int(fe["num_channels"]),
        "upper_band_limit": float(fe["upper_band_limit"]),
        "lower_band_limit": float(fe["lower_band_limit"]),
        "smoothing_bits": int(fe["smoothing_bits"]),
        "even_smoothing": float(fe["even_smoothing"]),
        "odd_smoothing": float(fe["odd_smoothing"]),
        "min_signal_remaining": float(fe["min_signal_remaining"]),
        "enable_pcan": bool(fe["enable_pcan"]),
        "pcan_strength": float(fe["pcan_strength"]),
        "pcan_offset": float(fe["pcan_offset"]),
        "gain_bits": int(fe["gain_bits"]),
        "enable_log": bool(fe["enable_log"]),
        "scale_shift": int(fe["scale_shift"]),
        "out_scale": 1,
    }


def num_frames(num_samples: int, fe: dict[str, Any], sample_rate: int) -> int:
    """Feature slices the front-end emits for `num_samples` (49 for 1 s at the defaults)."""
    window = sample_rate * fe["window_size_ms"] // 1000
    stride = sample_rate * fe["window_stride_ms"] // 1000
    return 1 + (num_samples - window) // stride if num_samples >= window else 0


def to_int8(values: np.ndarray) -> np.ndarray:
    """micro_speech's mapping of the op's uint16 output to the model's int8 input."""
    v = np.asarray(values).astype(np.int64)
    return np.clip(((v * 256) + 333) // 666 - 128, -128, 127).astype(np.int8)


def dequantize_features(x: np.ndarray) -> np.ndarray:
    """int8 features -> the float32 model input: (x + 128) * INPUT_SCALE, in [0, 25.9].

    The float model is trained on these; after int8 conversion its input quantization is
    (INPUT_SCALE, INPUT_ZERO_POINT), so the int8 model takes the int8 features unchanged.
    """
    return ((np.asarray(x, dtype=np.float32) - INPUT_ZERO_POINT) * INPUT_SCALE).astype(np.float32)


def _check_audio(audio: np.ndarray, clip_samples: int | None, what: str) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.dtype != np.int16:
        raise FrontendError(f"{what}: audio must be int16, got {audio.dtype}")
    if audio.ndim != 1:
        raise FrontendError(f"{what}: audio must be 1-D, got shape {audio.shape}")
    if clip_samples is not None:
        if len(audio) > clip_samples:
            raise FrontendError(
                f"{what}: {len(audio)} samples is longer than the clip ({clip_samples})"
            )
        if len(audio) < clip_samples:
            audio = np.pad(audio, (0, clip_samples - len(audio)))
    return audio


def compute_features(
    audio: np.ndarray, frontend: dict[str, Any], sample_rate: int, clip_samples: int
) -> np.ndarray:
    """int8 features (frames, channels) of one clip; shorter audio is zero-padded at the end."""
    audio = _check_audio(audio, clip_samples, "compute_features")
    tf = _tf()
    out = _op()(tf.constant(audio), **op_kwargs(frontend, sample_rate), out_type=tf.uint16)
    return to_int8(out.numpy())


class _BatchFrontend:
    """One traced graph that maps the op over a batch of equal-length clips."""

    def __init__(self, frontend: dict[str, Any], sample_rate: int, clip_samples: int) -> None:
        tf = _tf()
        op, kwargs = _op(), op_kwargs(frontend, sample_rate)
        frames = num_frames(clip_samples, frontend, sample_rate)
        out_spec = tf.TensorSpec([frames, int(frontend["num_channels"])], tf.uint16)

        @tf.autograph.experimental.do_not_convert
        def one(x: Any) -> Any:
            return op(x, **kwargs, out_type=tf.uint16)

        # map_fn runs the stateless-per-call op on each clip inside one graph call, which
        # saves the eager dispatch per clip.
        self._fn = tf.function(
            lambda xs: tf.map_fn(one, xs, fn_output_signature=out_spec, parallel_iterations=16),
            input_signature=[tf.TensorSpec([None, clip_samples], tf.int16)],
            autograph=False,
        )

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return to_int8(self._fn(batch).numpy())


_BATCH_FRONTENDS: dict[str, _BatchFrontend] = {}


def _batch_frontend(
    frontend: dict[str, Any], sample_rate: int, clip_samples: int
) -> _BatchFrontend:
    """One traced graph per front-end config for the process: a new tf.function per call
    would be traced again each time (and TensorFlow warns about it)."""
    key = json.dumps([frontend, sample_rate, clip_samples], sort_keys=True, default=str)
    if key not in _BATCH_FRONTENDS:
        _BATCH_FRONTENDS[key] = _BatchFrontend(frontend, sample_rate, clip_samples)
    return _BATCH_FRONTENDS[key]


def compute_features_batch(
    audios: Sequence[np.ndarray] | np.ndarray,
    frontend: dict[str, Any],
    sample_rate: int,
    clip_samples: int,
    progress: Any = None,
) -> np.ndarray:
    """int8 features (N, frames, channels) of many clips, each as `compute_features` gives.

    `progress`, if given, is called with the number of clips done after each batch (a tqdm
    `update`, for instance).
    """
    n = len(audios)
    frames = num_frames(clip_samples, frontend, sample_rate)
    out = np.empty((n, frames, int(frontend["num_channels"])), dtype=np.int8)
    if n == 0:
        return out
    run = _batch_frontend(frontend, sample_rate, clip_samples)
    for start in range(0, n, BATCH):
        chunk = audios[start : start + BATCH]
        batch = np.stack(
            [_check_audio(a, clip_samples, f"clip {start + i}") for i, a in enumerate(chunk)]
        )
        out[start : start + len(batch)] = run(batch)
        if progress is not None:
            progress(len(batch))
    return out


def stream_features(
    long_audio: np.ndarray, frontend: dict[str, Any], sample_rate: int
) -> np.ndarray:
    """int8 features (frames, channels) of a long recording through one front-end state.

    This is what the device computes when it listens continuously: frame k covers samples
    [k * stride, k * stride + window). A 1 s model window ending at frame k is
    `features[k - frames_per_clip + 1 : k + 1]`.
    """
    audio = _check_audio(long_audio, None, "stream_features")
    tf = _tf()
    out = _op()(tf.constant(audio), **op_kwargs(frontend, sample_rate), out_type=tf.uint16)
    return to_int8(out.numpy())
