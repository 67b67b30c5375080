"""Bad params.yaml, table-driven (the harness: tests/bad_inputs.py): NaN and infinite
numbers, duplicate keys, documents that are not a mapping, unknown keys, wrong types,
labels the firmware cannot carry; each is one error line naming the file and field."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.bad_inputs import Case, P, Ws, check_table, run_case, validate_cmd

# ------------------------------------------------------------------ mutations


def set_param(dotted: str, value: Any) -> Callable[[Ws], None]:
    def apply(ws: Ws) -> None:
        *parents, leaf = dotted.split(".")
        node = ws.params
        for key in parents:
            node = node[key]
        node[leaf] = value
        ws.write_params()

    return apply


def edit_params(old: str, new: str) -> Callable[[Ws], None]:
    def apply(ws: Ws) -> None:
        text = yaml.safe_dump(ws.params, sort_keys=False)
        assert old in text, old
        ws.write_params(text.replace(old, new, 1))

    return apply


def raw_params(text: str | bytes) -> Callable[[Ws], None]:
    def apply(ws: Ws) -> None:
        path = ws.root / "params.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return apply


def rename_keyword(new: str) -> Callable[[Ws], None]:
    def apply(ws: Ws) -> None:
        ds = ws.params["dataset"]
        ds["keywords"] = [new if k == "go" else k for k in ds["keywords"]]
        ds["labels"] = [new if k == "go" else k for k in ds["labels"]]
        ws.write_params()

    return apply


CASES: list[Case] = [
    # ---- params.yaml
    Case("nan-float", set_param("train.learning_rate", math.nan), validate_cmd,
         f"{P}: train.learning_rate = nan must be a finite number"),
    Case("inf-float", set_param("train.learning_rate", math.inf), validate_cmd,
         f"{P}: train.learning_rate = inf must be a finite number"),
    Case("minus-inf", set_param("features.background_volume", -math.inf), validate_cmd,
         f"{P}: features.background_volume = -inf must be a finite number"),
    Case("nan-int", set_param("train.epochs", math.nan), validate_cmd,
         f"{P}: train.epochs = nan must be an integer"),
    Case("inf-band", set_param("frontend.upper_band_limit", math.inf), validate_cmd,
         f"{P}: frontend.upper_band_limit = inf must be a finite number"),
    Case("nan-gate", set_param("evaluate.min_accuracy_int8", math.nan), validate_cmd,
         f"{P}: evaluate.min_accuracy_int8 = nan must be a finite number"),
    Case("duplicate-key", edit_params("  epochs: ", "  epochs: 3\n  epochs: "), validate_cmd,
         (f"{P}: line", ": duplicate key 'epochs'")),
    Case("duplicate-section", edit_params("train:\n", "train: {}\ntrain:\n"), validate_cmd,
         (f"{P}: line", ": duplicate key 'train'")),
    Case("list-document", raw_params("- dataset\n- train\n"), validate_cmd,
         f"{P}: must be a mapping of sections (dataset:, train:, ...), is a list"),
    Case("scalar-document", raw_params("42\n"), validate_cmd,
         f"{P}: must be a mapping of sections (dataset:, train:, ...), is a number"),
    Case("empty-document", raw_params("# nothing\n"), validate_cmd,
         f"{P}: must be a mapping of sections (dataset:, train:, ...), is empty"),
    Case("two-documents", raw_params("a: 1\n---\nb: 2\n"), validate_cmd, f"{P}: not valid YAML"),
    Case("bad-yaml", raw_params("train: [1, 2\n"), validate_cmd, f"{P}: not valid YAML at line"),
    Case("not-utf8", raw_params(b"train:\n  epochs: \xff\xfe\n"), validate_cmd,
         f"{P}: not UTF-8 text"),
    Case("missing-params", lambda ws: None, validate_cmd, f"{P}: cannot read"),
    Case("label-upper", rename_keyword("Go"), validate_cmd,
         "dataset.keywords entry 'Go' must match [a-z0-9_]+"),
    Case("label-equals", rename_keyword("go=1"), validate_cmd,
         "dataset.keywords entry 'go=1' must match [a-z0-9_]+"),
    Case("label-space", rename_keyword("go on"), validate_cmd,
         "dataset.keywords entry 'go on' must match [a-z0-9_]+"),
    Case("label-unicode", rename_keyword("gö"), validate_cmd,
         "dataset.keywords entry 'gö' must match [a-z0-9_]+"),
    Case("unknown-key", edit_params("  epochs:", "  epoch:"), validate_cmd,
         f"{P}: unknown key 'train.epoch' (did you mean 'train.epochs'?)"),
    Case("out-of-range", set_param("train.epochs", 0), validate_cmd,
         f"{P}: train.epochs = 0 is out of range"),
    Case("wrong-type", set_param("train.batch_size", "big"), validate_cmd,
         f"{P}: train.batch_size = 'big' must be an integer"),
    Case("bool-for-int", set_param("train.epochs", True), validate_cmd,
         f"{P}: train.epochs = True must be an integer"),
    Case("gate-above-one", set_param("evaluate.min_accuracy_int8", 1.5), validate_cmd,
         f"{P}: evaluate.min_accuracy_int8 = 1.5 is out of range"),
    Case("band-order", set_param("frontend.lower_band_limit", 8000.0), validate_cmd,
         f"{P}: frontend.lower_band_limit must be below upper_band_limit"),
]  # fmt: skip


def test_the_table_is_big_enough() -> None:
    check_table(CASES, 25)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tiny_pipeline: Path, tmp_path: Path) -> None:
    run_case(case, tiny_pipeline, tmp_path)
