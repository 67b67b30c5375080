"""The model search's candidates: params.yaml overrides, as `dvc exp run -S` takes them.

A candidate is a mapping of dotted params keys to values (architecture, width, depth,
first-layer stride, front-end channels and stride). `candidates()` lists the whole grid in a
seeded order that takes the architectures in turn, so a small budget still tries each one.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import random
from typing import Any

Candidate = dict[str, Any]

# Front-end choices every architecture is crossed with: (mel channels, window stride ms).
FRONTENDS: list[tuple[int, int]] = [(40, 20), (32, 20), (40, 30), (20, 20)]

# Per architecture: the keys below model.<arch> and the values each may take.
GRID: dict[str, dict[str, list[Any]]] = {
    "ds_cnn": {
        "filters": [16, 24, 32, 48, 64],
        "blocks": [2, 3, 4],
        "first_stride": [[2, 2], [2, 4], [3, 4]],
    },
    "tiny_conv": {
        "filters": [8, 16, 32],
        "stride": [[2, 2], [2, 4]],
    },
    "tc_resnet": {
        "width": [8, 12, 16, 24],
        "blocks": [2, 3],
        "kernel": [5, 9],
        "first_stride": [1, 2],
    },
}


def candidate_id(c: Candidate) -> str:
    """Stable short id of a candidate (its overrides, order-free)."""
    blob = json.dumps(c, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


def exp_name(c: Candidate) -> str:
    """The DVC experiment name of a candidate."""
    return f"srch-{c['model.architecture']}-{candidate_id(c)}"


def _arch_grid(arch: str) -> list[Candidate]:
    keys = list(GRID[arch])
    out = []
    for values in itertools.product(*(GRID[arch][k] for k in keys)):
        for channels, stride_ms in FRONTENDS:
            c: Candidate = {"model.architecture": arch}
            c.update({f"model.{arch}.{k}": v for k, v in zip(keys, values, strict=True)})
            c["frontend.num_channels"] = channels
            c["frontend.window_stride_ms"] = stride_ms
            out.append(c)
    return out


def candidates(seed: int) -> list[Candidate]:
    """Every grid point once: each architecture's grid shuffled (seeded), then interleaved."""
    rng = random.Random(seed)
    per_arch = []
    for arch in GRID:
        grid = _arch_grid(arch)
        rng.shuffle(grid)
        per_arch.append(grid)
    out = []
    for group in itertools.zip_longest(*per_arch):
        out.extend(c for c in group if c is not None)
    return out


def align_warmup(params: dict[str, Any], c: Candidate) -> Candidate:
    """The candidate, plus `features.warmup_ms` rounded down to a whole number of its
    front-end's strides when the base value is not one (1000 ms over a 30 ms stride): the
    params check would refuse it, and the warm-up's frames must line up with the clip's."""
    p = apply_overrides(params, c)
    warmup, stride = p["features"]["warmup_ms"], p["frontend"]["window_stride_ms"]
    if warmup % stride == 0:
        return c
    return {**c, "features.warmup_ms": warmup // stride * stride}


def baseline_candidate(params: dict[str, Any]) -> Candidate:
    """The grid's keys as params.yaml sets them today (to label the baseline like a candidate)."""
    arch = params["model"]["architecture"]
    c: Candidate = {"model.architecture": arch}
    c.update({f"model.{arch}.{k}": params["model"][arch][k] for k in GRID[arch]})
    c["frontend.num_channels"] = params["frontend"]["num_channels"]
    c["frontend.window_stride_ms"] = params["frontend"]["window_stride_ms"]
    return c


def apply_overrides(params: dict[str, Any], c: Candidate) -> dict[str, Any]:
    """A copy of the params tree with the candidate's dotted keys set."""
    p = copy.deepcopy(params)
    for dotted, value in c.items():
        *parents, leaf = dotted.split(".")
        node = p
        for key in parents:
            node = node[key]
        node[leaf] = copy.deepcopy(value)
    return p


def set_args(c: Candidate) -> list[str]:
    """`-S key=value` arguments for `dvc exp run` (lists as [a,b], Hydra's syntax)."""
    args = []
    for key, value in c.items():
        text = "[" + ",".join(str(v) for v in value) + "]" if isinstance(value, list) else value
        args += ["-S", f"{key}={text}"]
    return args


def describe(c: Candidate) -> str:
    """Short human label: `ds_cnn f32 b3 s2x4, fe 40ch/20ms`."""
    arch = c["model.architecture"]
    short = {"filters": "f", "blocks": "b", "first_stride": "s", "stride": "s", "width": "w"}
    short.update({"kernel": "k"})
    parts = []
    for key, value in c.items():
        if key.startswith(f"model.{arch}."):
            name = key.rsplit(".", 1)[1]
            text = "x".join(str(v) for v in value) if isinstance(value, list) else str(value)
            parts.append(f"{short.get(name, name)}{text}")
    fe = f"{c.get('frontend.num_channels', '-')}ch/{c.get('frontend.window_stride_ms', '-')}ms"
    return f"{arch} {' '.join(parts)}, fe {fe}"
