"""DVC stage `quantize`: float Keras model -> full-integer int8 TFLite model.

    python -m ml.quantize --model MODEL.keras --features DIR --out MODEL.tflite [--params ...]

(dvc.yaml names the paths.)

Post-training quantization with int8 input and output, calibrated on a fixed, seeded subset
of the training split (quantize.representative_samples). With `quantize.qat: true` the float
model is first fine-tuned quantization-aware (tensorflow-model-optimization `quantize_model`,
quantize.qat_epochs at quantize.qat_learning_rate) and then converted.

Input contract: the float model takes `dequantize_features(x_int8) = (x + 128) * 26/256`.
The input tensor's range is pinned to exactly that image of [-128, 127], so the int8 model's
input quantization is scale 26/256, zero point -128: the int8 features go in unchanged. The
stage checks this and fails if the converter chose anything else.
"""

from __future__ import annotations

import argparse
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ml import quiet_c_stderr
from ml.errors import KwsError, run_main
from ml.fit import compile_and_fit, load_float_model, seed_everything
from ml.frontend import INPUT_SCALE, INPUT_ZERO_POINT, dequantize_features
from ml.fsutil import write_bytes_atomic as write_bytes
from ml.params import DEFAULT_PARAMS, load_params
from ml.splits import load_split, load_xy

log = logging.getLogger(__name__)


class QuantizeError(KwsError):
    """The float model cannot be loaded or converted, or the int8 model breaks the contract."""


def representative_indices(n: int, count: int, seed: int) -> np.ndarray:
    """A fixed, seeded subset of `count` of `n` training examples, in file order."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.permutation(n)[: min(n, count)])


def representative_inputs(x_train: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Float calibration inputs; the first one is pinned to span the full int8 range.

    Calibration sets the input tensor's quantization from the min and max it sees. Real
    features nearly always contain -128 but not always 127, so one element of the first
    sample is set to each extreme: the input range is then exactly [-128, 127] in int8 terms.
    """
    chosen = x_train[representative_indices(len(x_train), count, seed)].copy()
    chosen[0].flat[0] = 127
    chosen[0].flat[-1] = -128
    return dequantize_features(chosen)


def qat_finetune(model: Any, params: dict[str, Any], features: Path) -> Any:
    """Quantization-aware fine-tuning with tfmot; returns the quantize-wrapped model."""
    import tensorflow_model_optimization as tfmot

    qp, tp = params["quantize"], params["train"]
    seed_everything(qp["seed"])
    labels = params["dataset"]["labels"]
    x_train, y_train = load_xy(features, "train", len(labels))
    x_val, y_val = load_xy(features, "validation", len(labels))
    qat = tfmot.quantization.keras.quantize_model(model)
    compile_and_fit(
        qat,
        (x_train, y_train, x_val, y_val),
        len(labels),
        tp,
        learning_rate=qp["qat_learning_rate"],
        epochs=qp["qat_epochs"],
    )
    pin_qat_input_range(qat)
    return qat


def pin_qat_input_range(qat: Any) -> None:
    """Set the QAT input quantizer's range to the image of [-128, 127] (see module doc)."""
    lo, hi = 0.0, float(dequantize_features(np.array([127], np.int8))[0])
    layer = qat.layers[1]
    names = {v.name.split("/")[-1].split(":")[0]: v for v in layer.weights}
    mins = [v for k, v in names.items() if k.endswith("_min")]
    maxs = [v for k, v in names.items() if k.endswith("_max")]
    if len(mins) != 1 or len(maxs) != 1:
        raise QuantizeError(f"QAT model: no single input range in layer {layer.name}")
    mins[0].assign(lo)
    maxs[0].assign(hi)


def convert(model: Any, calibration: np.ndarray) -> bytes:
    """Full-integer int8 conversion with int8 input and output."""
    import tensorflow as tf

    def rep() -> Iterator[list[np.ndarray]]:
        for sample in calibration:
            yield [sample[None, ...].astype(np.float32)]

    # A batch-1 signature (the device's) makes every shape static, so Reshape/Flatten
    # convert to one RESHAPE instead of SHAPE/STRIDED_SLICE/PACK ops the firmware lacks.
    spec = tf.TensorSpec([1, *model.inputs[0].shape[1:]], tf.float32, name="features")
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = rep
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    try:
        with quiet_c_stderr():  # the calibrator's "fully_quantize: 0, inference_type: 6" line
            return bytes(converter.convert())
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QuantizeError(f"int8 conversion failed: {msg}") from None


def io_details(tflite: bytes) -> dict[str, Any]:
    """Input/output dtype, shape and (scale, zero point), and the builtin ops used."""
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interp = tf.lite.Interpreter(model_content=tflite)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    ops = sorted({op["op_name"] for op in interp._get_ops_details()})
    return {
        "input": (inp["dtype"], tuple(inp["shape"]), tuple(inp["quantization"])),
        "output": (out["dtype"], tuple(out["shape"]), tuple(out["quantization"])),
        "ops": ops,
    }


def check_contract(tflite: bytes, where: str) -> dict[str, Any]:
    """The int8 model must take the int8 features unchanged and emit int8 scores."""
    d = io_details(tflite)
    (in_type, _, (in_scale, in_zp)), (out_type, _, _) = d["input"], d["output"]
    if in_type != np.int8 or out_type != np.int8:
        raise QuantizeError(f"{where}: input/output types are {in_type}/{out_type}, not int8")
    if in_zp != INPUT_ZERO_POINT or abs(in_scale - INPUT_SCALE) > 1e-6 * INPUT_SCALE:
        raise QuantizeError(
            f"{where}: input quantization ({in_scale}, {in_zp}) is not the features' "
            f"({INPUT_SCALE}, {INPUT_ZERO_POINT})"
        )
    return d


def quantize(params: dict[str, Any], model_path: Path, features: Path, out: Path) -> bytes:
    """Convert (after optional QAT) and write the int8 model; return its bytes."""
    qp = params["quantize"]
    model = load_float_model(model_path)
    x_train, _, _ = load_split(features, "train")
    if len(x_train) == 0:
        raise QuantizeError(f"{features / 'train.npz'}: no training examples to calibrate on")
    expected = tuple(model.inputs[0].shape[1:])
    if tuple(x_train.shape[1:]) != expected:
        raise QuantizeError(
            f"{features / 'train.npz'}: features {tuple(x_train.shape[1:])} do not fit the "
            f"model input {expected}"
        )
    if qp["qat"]:
        model = qat_finetune(model, params, features)
    calibration = representative_inputs(x_train, qp["representative_samples"], qp["seed"])
    tflite = convert(model, calibration)
    d = check_contract(tflite, str(out))
    write_bytes(out, tflite)
    log.info(
        "wrote %s: %d bytes, input %s, output %s, ops %s",
        out,
        len(tflite),
        d["input"][2],
        d["output"][2],
        ",".join(d["ops"]),
    )
    return tflite


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.quantize", description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="float model (.keras)")
    ap.add_argument("--features", type=Path, required=True, help="directory of the split npz files")
    ap.add_argument("--out", type=Path, required=True, help="int8 model to write (.tflite)")
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    quantize(params, args.model, args.features, args.out)
    return 0


if __name__ == "__main__":
    run_main(main)
