"""ml/params.py: YAML 1.2 reading (as DVC writes params.yaml back) and strict validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ml.params import ParamsError, load_params

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params.yaml"


# train.epochs' line as params.yaml has it (the recipe may change; the test must not care)
EPOCHS = f"  epochs: {load_params(PARAMS)['train']['epochs']}\n"


def edited(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    text = PARAMS.read_text()
    assert old in text, old
    path = tmp_path / "params.yaml"
    path.write_text(text.replace(old, new, count))
    return path


def test_repository_params_are_valid() -> None:
    p = load_params(PARAMS)
    ev = p["evaluate"]
    assert 0 < ev["min_accuracy_int8"] <= 1
    assert 0 <= ev["max_int8_drop"] < 1
    assert ev["max_false_accepts_per_hour"] >= 0


def test_unquoted_yes_no_on_off_stay_strings(tmp_path: Path) -> None:
    """DVC (`dvc exp run -S`) rewrites params.yaml with YAML 1.2 rules and drops the quotes."""
    path = edited(
        tmp_path,
        '["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]',
        "[yes, no, up, down, left, right, on, off, stop, go]",
    )
    text = path.read_text().replace('"yes", "no", "up"', "yes, no, up")
    text = text.replace('"on", "off", "stop", "go"]', "on, off, stop, go]")
    path.write_text(text)
    assert re.search(r"labels: \[_silence_, _unknown_, yes, no", text)
    p = load_params(path)
    assert p["dataset"]["keywords"][:2] == ["yes", "no"]
    assert p["dataset"]["labels"] == load_params(PARAMS)["dataset"]["labels"]
    assert p["frontend"]["enable_pcan"] is True  # `true` is still a boolean


def test_dvc_round_trip_keeps_params_valid(tmp_path: Path) -> None:
    """What `dvc exp run -S train.epochs=1` does: DVC's own YAML writer (ruamel, YAML 1.2)."""
    from dvc.utils.serialize import modify_yaml

    path = tmp_path / "params.yaml"
    path.write_text(PARAMS.read_text())
    with modify_yaml(path) as data:
        data["train"]["epochs"] = 1
        # a list set with -S comes back unquoted: dataset.keywords=[yes,no,...]
        data["dataset"]["keywords"] = list(load_params(PARAMS)["dataset"]["keywords"])
    assert "\n  - yes\n" in path.read_text() or " yes," in path.read_text()
    p = load_params(path)
    assert p["train"]["epochs"] == 1
    assert p["dataset"]["keywords"] == load_params(PARAMS)["dataset"]["keywords"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (EPOCHS, "  epochs: .nan\n", "train.epochs = nan must be an integer"),
        (
            "  learning_rate: 0.005",
            "  learning_rate: .nan",
            "train.learning_rate = nan must be a finite number",
        ),
        (
            "  learning_rate: 0.005",
            "  learning_rate: .inf",
            "train.learning_rate = inf must be a finite number",
        ),
        (
            "  background_volume: 0.3",
            "  background_volume: -.inf",
            "features.background_volume = -inf must be a finite number",
        ),
        (EPOCHS, f"{EPOCHS}  epochs: 3\n", "line 1"),
        ("train:\n", "train:\n  seed: 1\n", "duplicate key 'seed'"),
        ('"stop", "go"]\n  # label', '"stop", "Go"]\n  # label', "'Go' must match [a-z0-9_]+"),
        ('"stop", "go"]\n  sample', '"stop", "g o"]\n  sample', "'g o' must match [a-z0-9_]+"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = edited(tmp_path, old, new)
    with pytest.raises(ParamsError) as exc:
        load_params(path)
    assert str(exc.value).startswith(f"{path}: ")
    assert "\n" not in str(exc.value)
    if message != "line 1":
        assert message in str(exc.value)
    else:
        assert "duplicate key 'epochs'" in str(exc.value)


@pytest.mark.parametrize(
    ("text", "kind"),
    [("", "empty"), ("- a\n- b\n", "a list"), ("42\n", "a number"), ("just text\n", "a string")],
)
def test_document_must_be_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=rf"must be a mapping of sections .*, is {kind}$"):
        load_params(path)
