"""Shape-only check of a search candidate: does it fit the boards before we train it?

The untrained model is built and converted to int8 with random calibration data; its bytes,
TFLM arena and MACs do not depend on the weights' values, so they are the trained model's
figures (the same `ml.evaluate.model_facts` and `ml.budget` checks the evaluate stage runs).
Results are cached by candidate id and params hash in a JSON file.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ml import budget
from ml.fsutil import write_json_atomic
from ml.params import frames_per_clip, params_hash, validate_params
from ml.search_space import Candidate, apply_overrides, candidate_id

log = logging.getLogger(__name__)


@dataclass
class Limits:
    """What a candidate must fit: boards from hil/boards.yaml plus optional tighter limits."""

    boards: dict[str, dict[str, Any]]
    max_model_bytes: int | None = None
    max_arena_bytes: int | None = None
    max_latency_ms: dict[str, float] = field(default_factory=dict)


def keras_macs(model: Any) -> int:
    """MACs of the Keras model's convolutions (what `ml.tflm.count_macs` counts after
    conversion: batch norm folds away, the head is a CONV_2D)."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in ("Conv2D", "DepthwiseConv2D", "Dense"):
            continue
        out = int(np.prod(layer.output.shape[1:]))
        if kind == "Conv2D":
            kh, kw = layer.kernel_size
            total += out * kh * kw * int(layer.input.shape[-1])
        elif kind == "DepthwiseConv2D":
            kh, kw = layer.kernel_size
            total += out * kh * kw
        else:
            total += out * int(layer.input.shape[-1])
    return total


def quick_facts(params: dict[str, Any]) -> dict[str, Any]:
    """Convolution weights (one int8 byte each once converted) and MACs from the Keras
    graph alone (no conversion: about a second)."""
    from ml.models import build_model, keras

    shape = (frames_per_clip(params), params["frontend"]["num_channels"])
    keras.backend.clear_session()
    model = build_model(params["model"], shape, len(params["dataset"]["labels"]))
    kernels = sum(
        int(np.prod(w.shape))
        for layer in model.layers
        for w in layer.weights
        if w.name.split("/")[-1].split(":")[0] in ("kernel", "depthwise_kernel")
    )
    return {"kernel_weights": kernels, "macs": keras_macs(model)}


def quick_check(quick: dict[str, Any], limits: Limits) -> list[str]:
    """Rejections certain before conversion: each weight is at least one int8 byte, and
    latency follows from MACs alone."""
    fails = []
    cap = min(
        [int(b["model_budget_bytes"]) for b in limits.boards.values()]
        + ([limits.max_model_bytes] if limits.max_model_bytes is not None else [])
    )
    if quick["kernel_weights"] > cap:
        fails.append(f"{quick['kernel_weights']} int8 weights cannot fit a {cap}-byte model")
    for name, board in limits.boards.items():
        ms = budget.est_latency_ms(quick["macs"], board)
        bound = min(float(board.get("latency_bound_ms", float("inf"))),
                    limits.max_latency_ms.get(name, float("inf")))  # fmt: skip
        if ms > bound:
            fails.append(f"board {name}: estimated latency {ms:.1f} ms exceeds {bound:g} ms")
    return fails


def shape_facts(params: dict[str, Any]) -> dict[str, Any]:
    """Model bytes, arena (measured, with margin), RAM extra, MACs and ops of the int8 model."""
    from ml.evaluate import model_facts
    from ml.models import build_model, keras
    from ml.quantize import convert

    shape = (frames_per_clip(params), params["frontend"]["num_channels"])
    keras.backend.clear_session()
    model = build_model(params["model"], shape, len(params["dataset"]["labels"]))
    rng = np.random.default_rng(0)
    calibration = rng.uniform(0.0, 26.0, size=(8, *shape)).astype(np.float32)
    tflite = convert(model, calibration)
    facts, arena = model_facts(tflite, params)
    return {
        "model_bytes": facts.model_bytes,
        "arena_bytes": arena,
        "tensor_arena_size": facts.tensor_arena_size,
        "ram_extra_bytes": facts.ram_extra_bytes,
        "macs": facts.macs,
        "ops": facts.ops,
        "params": int(model.count_params()),
    }


def check(facts: dict[str, Any], limits: Limits, ops: list[str]) -> list[str]:
    """One-line reasons the candidate is rejected (empty when it fits every board)."""
    m = budget.ModelFacts(
        model_bytes=facts["model_bytes"],
        tensor_arena_size=facts["tensor_arena_size"],
        ram_extra_bytes=facts["ram_extra_bytes"],
        macs=facts["macs"],
        ops=facts["ops"],
    )
    fails = []
    for name, board in limits.boards.items():
        fails += budget.check_board(name, board, m, ops)
        ms = budget.est_latency_ms(m.macs, board)
        bound = min(float(board.get("latency_bound_ms", float("inf"))),
                    limits.max_latency_ms.get(name, float("inf")))  # fmt: skip
        if ms > bound:
            fails.append(f"board {name}: estimated latency {ms:.1f} ms exceeds {bound:g} ms")
    if limits.max_model_bytes is not None and m.model_bytes > limits.max_model_bytes:
        fails.append(
            f"model {m.model_bytes} bytes exceeds --max-model-bytes {limits.max_model_bytes}"
        )
    if limits.max_arena_bytes is not None and m.tensor_arena_size > limits.max_arena_bytes:
        fails.append(
            f"tensor arena {m.tensor_arena_size} bytes exceeds --max-arena-bytes "
            f"{limits.max_arena_bytes}"
        )
    return fails


class ShapeCache:
    """candidate id + params hash -> shape facts, kept in a JSON file across runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.data = {}

    def facts(
        self, params: dict[str, Any], c: Candidate, limits: Limits | None = None
    ) -> dict[str, Any]:
        """Shape facts; with `limits`, a candidate the Keras graph already rules out gets
        {"quick_reject": [...]} instead (no int8 conversion)."""
        p = apply_overrides(params, c)
        key = f"{candidate_id(c)}-{params_hash(p)}"
        if key not in self.data and limits is not None:
            try:
                validate_params(p, "candidate")
                fails = quick_check(quick_facts(p), limits)
            except Exception as exc:  # any failure to build rejects the candidate
                line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                fails = [f"cannot build: {line}"]
            if fails:
                return {"quick_reject": fails}
        if key not in self.data:
            try:
                validate_params(p, "candidate")
                self.data[key] = shape_facts(p)
            except Exception as exc:  # any failure to build or convert rejects the candidate
                line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                self.data[key] = {"error": line}
            write_json_atomic(self.path, self.data)
        return self.data[key]
