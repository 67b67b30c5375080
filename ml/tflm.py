"""The int8 model on the runtimes: TFLM (what the boards run) and the TFLite interpreter.

`run_tflm` uses PyPI `tflite-micro`, the same kernels the firmware links. `run_tflite` uses
TensorFlow Lite's *reference* kernels (BUILTIN_REF): the default optimized kernels and
XNNPACK round differently (single rounding), so only the reference kernels can be bit-exact
with TFLM. Facts about the model (ops, MACs, I/O quantization) come from the flatbuffer
itself, parsed with the schema that ships with tflite-micro.

`read_model` runs the flatbuffer verifier before anything trusts the bytes: TFLM and the
Python schema reader follow offsets without bounds checks, so a truncated or corrupt body
could crash them or yield garbage. The verifier is TensorFlow Lite's
(`FlatBufferModel::VerifyAndBuildFromBuffer`, run when `tf.lite.Interpreter` is created);
tflite-micro ships none.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ml import quiet_c_stderr
from ml.errors import KwsError

log = logging.getLogger(__name__)

_ARENA_LINE = re.compile(r"Arena allocation total (\d+) bytes")
MIN_ARENA = 64 * 1024  # the measuring interpreter's arena floor
_VERIFIED: set[str] = set()  # sha256 of buffers the verifier accepted in this process


class ModelFileError(KwsError):
    """A .tflite file is missing, unreadable or not a model the runtimes accept."""


def _schema() -> Any:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    return fb


def read_model(path: Path | str) -> bytes:
    """The bytes of a .tflite file, checked for the flatbuffer identifier `TFL3`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model file not found") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: unreadable ({exc.strerror or exc})") from None
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFileError(f"{path}: not a TFLite flatbuffer (no TFL3 identifier)")
    verify_model(data, str(path))
    return data


def verify_model(model_bytes: bytes, src: str = "model") -> None:
    """Raise ModelFileError unless the flatbuffer verifier accepts `model_bytes`."""
    import hashlib

    digest = hashlib.sha256(model_bytes).hexdigest()
    if digest in _VERIFIED:
        return
    import tensorflow as tf

    bad = None
    with warnings.catch_warnings(), _capture_c_output() as lines:
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        try:
            tf.lite.Interpreter(model_content=bytes(model_bytes))
        except ValueError as exc:
            if "not a valid flatbuffer" in str(exc).lower():
                bad = "the flatbuffer verifier rejects it: truncated or corrupt"
        except RuntimeError:
            pass  # verified, but TFLite cannot build it (e.g. a custom op): TFLM judges that
    if bad:
        log.debug("verifier output: %s", lines)
        raise ModelFileError(f"{src}: not a valid TFLite model ({bad})")
    _VERIFIED.add(digest)


def _model(model_bytes: bytes) -> Any:
    fb = _schema()
    if len(model_bytes) < 8 or model_bytes[4:8] != b"TFL3":
        raise ModelFileError("model: not a TFLite flatbuffer (no TFL3 identifier)")
    return fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(bytearray(model_bytes), 0))


def _op_names() -> dict[int, str]:
    fb = _schema()
    return {
        v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_") and k.isupper()
    }


def _builtin_code(opcode: Any) -> int:
    # Old models keep the code in deprecatedBuiltinCode (< 127); the larger one wins.
    return max(int(opcode.builtinCode), int(opcode.deprecatedBuiltinCode))


def _ops_in_order(model: Any) -> Iterator[tuple[str, Any, Any]]:
    """(op name, operator, subgraph) for every operator of every subgraph."""
    names = _op_names()
    for sg in model.subgraphs or []:
        for op in sg.operators or []:
            opcode = model.operatorCodes[op.opcodeIndex]
            code = _builtin_code(opcode)
            if code == _schema().BuiltinOperator.CUSTOM:
                name = "CUSTOM:" + (opcode.customCode or b"").decode(errors="replace")
            else:
                name = names.get(code, f"UNKNOWN_{code}")
            yield name, op, sg


def model_ops(model_bytes: bytes) -> list[str]:
    """Sorted names of the builtin ops the model uses, e.g. ["CONV_2D", "SOFTMAX"]."""
    return sorted({name for name, _, _ in _ops_in_order(_model(model_bytes))})


def count_macs(model_bytes: bytes) -> int:
    """Multiply-accumulates of one inference in CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED."""
    model = _model(model_bytes)
    total = 0
    for name, op, sg in _ops_in_order(model):
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        out = [int(d) for d in sg.tensors[op.outputs[0]].shape]
        weights = [int(d) for d in sg.tensors[op.inputs[1]].shape]
        out_elems = int(np.prod(out))
        if name == "CONV_2D":  # weights [out_ch, kh, kw, in_ch]
            total += out_elems * weights[1] * weights[2] * weights[3]
        elif name == "DEPTHWISE_CONV_2D":  # weights [1, kh, kw, out_ch]: one input per output
            total += out_elems * weights[1] * weights[2]
        else:  # weights [units, depth]
            total += out_elems * weights[1]
    return total


def model_io(model_bytes: bytes) -> dict[str, dict[str, Any]]:
    """Shape, dtype, scale and zero point of the (single) input and output tensors."""
    fb = _schema()
    model = _model(model_bytes)
    sg = model.subgraphs[0]
    dtypes = {v: k.lower() for k, v in vars(fb.TensorType).items() if k.isupper()}

    def describe(index: int) -> dict[str, Any]:
        t = sg.tensors[index]
        q = t.quantization
        scale = float(q.scale[0]) if q is not None and q.scale is not None else 0.0
        zp = int(q.zeroPoint[0]) if q is not None and q.zeroPoint is not None else 0
        return {
            "shape": [int(d) for d in t.shape],
            "dtype": dtypes.get(t.type, f"type{t.type}"),
            "scale": scale,
            "zero_point": zp,
        }

    if len(sg.inputs) != 1 or len(sg.outputs) != 1:
        raise ModelFileError(
            f"model: expected 1 input and 1 output, got {len(sg.inputs)} and {len(sg.outputs)}"
        )
    return {"input": describe(sg.inputs[0]), "output": describe(sg.outputs[0])}


def _check_int8(model_bytes: bytes) -> dict[str, dict[str, Any]]:
    io = model_io(model_bytes)
    for side in ("input", "output"):
        if io[side]["dtype"] != "int8":
            raise ModelFileError(f"model: {side} tensor is {io[side]['dtype']}, expected int8")
    return io


def _batches(x: np.ndarray, in_shape: list[int]) -> np.ndarray:
    """Reshape (N, ...) int8 samples to (N, *in_shape), checking the element count."""
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise KwsError(f"model input: features must be int8, got {x.dtype}")
    per = int(np.prod(in_shape))
    if x.ndim == 0 or x[0].size != per:
        raise KwsError(
            f"model input: each sample must have {per} values {tuple(in_shape)}, got "
            f"shape {x.shape[1:]}"
        )
    return x.reshape((x.shape[0], *in_shape))


def _tflm_interpreter(model_bytes: bytes, arena_size: int) -> Any:
    from tflite_micro.python.tflite_micro import runtime

    try:
        return runtime.Interpreter.from_bytes(model_bytes, arena_size=int(arena_size))
    except (RuntimeError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"model: TFLM cannot load it ({msg})") from None


def default_arena(model_bytes: bytes) -> int:
    return max(MIN_ARENA, 10 * len(model_bytes))


def run_tflm(model_bytes: bytes, x: np.ndarray, arena_size: int | None = None) -> np.ndarray:
    """int8 outputs (N, *output_shape[1:]) of the TFLM runtime, one invoke per sample."""
    io = _check_int8(model_bytes)
    xs = _batches(x, io["input"]["shape"])
    interp = _tflm_interpreter(model_bytes, arena_size or default_arena(model_bytes))
    out = np.empty((len(xs), *io["output"]["shape"][1:]), dtype=np.int8)
    for i, sample in enumerate(xs):
        interp.set_input(sample, 0)
        interp.invoke()
        out[i] = interp.get_output(0).reshape(out.shape[1:])
    return out


class TfliteRunner:
    """A TFLite interpreter kept open for many single-sample invocations."""

    def __init__(self, model_bytes: bytes, reference: bool = True) -> None:
        import tensorflow as tf

        self.io = _check_int8(model_bytes)
        kind = (
            tf.lite.experimental.OpResolverType.BUILTIN_REF
            if reference
            else tf.lite.experimental.OpResolverType.AUTO
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            try:
                with quiet_c_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate"
                    self._ip = tf.lite.Interpreter(
                        model_content=model_bytes, experimental_op_resolver_type=kind
                    )
                    self._ip.allocate_tensors()
            except (RuntimeError, ValueError) as exc:
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ModelFileError(f"model: TFLite cannot load it ({msg})") from None
        self._in = self._ip.get_input_details()[0]["index"]
        self._out = self._ip.get_output_details()[0]["index"]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        xs = _batches(x, self.io["input"]["shape"])
        out = np.empty((len(xs), *self.io["output"]["shape"][1:]), dtype=np.int8)
        for i, sample in enumerate(xs):
            self._ip.set_tensor(self._in, sample)
            self._ip.invoke()
            out[i] = self._ip.get_tensor(self._out).reshape(out.shape[1:])
        return out


def run_tflite(model_bytes: bytes, x: np.ndarray, reference: bool = True) -> np.ndarray:
    """int8 outputs of the TFLite interpreter (reference kernels unless reference=False)."""
    return TfliteRunner(model_bytes, reference=reference)(x)


@contextlib.contextmanager
def _capture_c_output() -> Iterator[list[str]]:
    """Collect what C code writes to fd 1 and fd 2 (print_allocations uses C stdio)."""
    libc = ctypes.CDLL(None)
    lines: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = {fd: os.dup(fd) for fd in (1, 2)}
        libc.fflush(None)
        try:
            for fd in saved:
                os.dup2(tmp.fileno(), fd)
            yield lines
            libc.fflush(None)
        finally:
            for fd, dup in saved.items():
                os.dup2(dup, fd)
                os.close(dup)
            tmp.seek(0)
            lines.extend(tmp.read().decode(errors="replace").splitlines())


def measure_arena(model_bytes: bytes) -> int:
    """Tensor arena bytes the TFLM runtime actually allocates for this model."""
    io = _check_int8(model_bytes)
    interp = _tflm_interpreter(model_bytes, default_arena(model_bytes))
    interp.set_input(np.zeros(io["input"]["shape"], dtype=np.int8), 0)
    interp.invoke()
    with _capture_c_output() as lines:
        interp.print_allocations()
    for line in lines:
        m = _ARENA_LINE.search(line)
        if m:
            return int(m.group(1))
    raise ModelFileError("model: TFLM did not report its arena allocation")
