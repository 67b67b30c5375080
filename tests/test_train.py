"""ml.models and ml.train: architectures, dvclive outputs, best-epoch model, errors."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from ml.dataset import list_clips
from ml.features import SPLIT_FILES, FeaturesError, build_split
from ml.models import ModelError, build_model, keras
from ml.splits import load_xy
from ml.train import TrainError, main, train


def tiny_model_params(params: dict) -> dict:
    """Small and fast: 2 epochs of a narrow DS-CNN."""
    p = copy.deepcopy(params)
    p["model"]["ds_cnn"].update(filters=8, blocks=1)
    p["train"].update(epochs=2, batch_size=32)
    return p


@pytest.fixture(scope="module")
def tiny_features(tmp_path_factory, tiny_dataset) -> tuple[Path, dict]:
    from tests.fixtures_data import tiny_synth_params

    params, _ = tiny_synth_params()
    out = tmp_path_factory.mktemp("features")
    clips = list_clips(tiny_dataset, params)
    for split in SPLIT_FILES:
        build_split(split, clips[split], params, tiny_dataset, out)
    return out, tiny_model_params(params)


@pytest.mark.parametrize("arch", ["ds_cnn", "tiny_conv"])
def test_build_model_shapes(arch, tiny_features):
    _, params = tiny_features
    mp = copy.deepcopy(params["model"])
    mp["architecture"] = arch
    model = build_model(mp, (49, 40), 12)
    assert model.input_shape == (None, 49, 40)
    assert model.output_shape == (None, 12)
    out = model(np.zeros((2, 49, 40), np.float32)).numpy()
    assert np.allclose(out.sum(axis=1), 1.0, atol=1e-5)  # softmax


def test_ds_cnn_follows_the_reference_layout(tiny_features):
    _, params = tiny_features
    mp = copy.deepcopy(params["model"])
    mp["ds_cnn"].update(filters=16, blocks=3, dropout=0.0)
    model = build_model(mp, (49, 40), 12)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("DepthwiseConv2D") == 3
    assert kinds.count("Conv2D") == 1 + 3 + 1  # first conv, pointwise, classifier head
    assert kinds.count("BatchNormalization") == 1 + 2 * 3
    first = next(layer for layer in model.layers if type(layer).__name__ == "Conv2D")
    assert first.kernel_size == (10, 4) and first.strides == (2, 2) and first.filters == 16


def test_bad_model_params_are_one_line_errors(tiny_features):
    _, params = tiny_features
    mp = copy.deepcopy(params["model"])
    mp["architecture"] = "resnet"
    with pytest.raises(ModelError) as e:
        build_model(mp, (49, 40), 12)
    assert str(e.value) == (
        "model.architecture = 'resnet' must be one of ds_cnn, tiny_conv, tc_resnet"
    )
    with pytest.raises(ModelError) as e:
        build_model(params["model"], (49,), 12)
    assert str(e.value) == "model input shape (49,) must be (frames, channels)"


def test_train_writes_model_and_dvclive(tiny_features, tmp_path):
    features, params = tiny_features
    out = tmp_path / "model" / "float.keras"
    live = tmp_path / "live"
    summary_path = tmp_path / "train.json"
    summary = train(params, features, out, live, summary_path)
    model = keras.models.load_model(out, compile=False)
    assert model.output_shape == (None, 12)
    assert 1 <= summary["best_epoch"] <= 2
    # the summary people diff: one name per figure, epochs counted from 1
    written = json.loads(summary_path.read_text())
    assert written == summary
    assert set(written) == {"epochs", "best_epoch", "val_accuracy", "train_accuracy", "params"}
    assert written["epochs"] == params["train"]["epochs"]
    for name in ("train/loss", "train/accuracy", "val/loss", "val/accuracy"):
        rows = (live / "plots" / "metrics" / f"{name}.tsv").read_text().splitlines()
        assert rows[0].split("\t")[:2] == ["step", name.split("/")[1]]
        assert len(rows) == 1 + params["train"]["epochs"]
    assert [p.name for p in (tmp_path / "model").iterdir()] == ["float.keras"]
    assert not (live / "plots/metrics/train/engine_accuracy.tsv").exists()  # adversary off


def test_training_is_deterministic(tiny_features, tmp_path):
    features, params = tiny_features
    train(params, features, tmp_path / "a.keras")
    train(params, features, tmp_path / "b.keras")
    wa = keras.models.load_model(tmp_path / "a.keras", compile=False).get_weights()
    wb = keras.models.load_model(tmp_path / "b.keras", compile=False).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(wa, wb, strict=True))


def test_engine_adversary_trains_the_trunk_and_exports_the_plain_model(
    tiny_features, tmp_path, caplog
):
    features, params = tiny_features
    plain = train(params, features, tmp_path / "plain.keras")
    adv_params = copy.deepcopy(params)
    adv_params["train"]["engine_adversary"] = 0.5
    with caplog.at_level("INFO", logger="ml.fit"):
        adv = train(adv_params, features, tmp_path / "adv.keras", tmp_path / "live")
    # the engines of the tiny dataset, then "none": clips without an engine (silence)
    assert re.search(r"engine adversary \(scale 0\.5\) over ([a-z]+, )+none$", caplog.text, re.M)
    a = keras.models.load_model(tmp_path / "plain.keras", compile=False)
    b = keras.models.load_model(tmp_path / "adv.keras", compile=False)
    # the head is gone: same layers, same parameters, the board's budget unchanged
    assert [type(x).__name__ for x in a.layers] == [type(x).__name__ for x in b.layers]
    assert adv["params"] == plain["params"] == a.count_params()
    # ... but the reversed gradient reached the trunk (first conv: shared, not the head)
    assert not np.allclose(a.get_weights()[0], b.get_weights()[0])
    assert 1 <= adv["best_epoch"] <= 2 and 0.0 <= adv["val_accuracy"] <= 1.0
    # the head's accuracy per epoch, for `dvc plots`: is the adversary learning at all?
    tsv = tmp_path / "live/plots/metrics/train/engine_accuracy.tsv"
    assert len(tsv.read_text().splitlines()) == 1 + params["train"]["epochs"]


def test_average_last_keeps_the_mean_of_the_last_epochs(tiny_features, tmp_path, caplog):
    features, params = tiny_features
    p = copy.deepcopy(params)
    p["train"].update(epochs=4, average_last=0.5)
    with caplog.at_level("INFO", logger="ml.train"):
        summary = train(p, features, tmp_path / "avg.keras", metrics_path=tmp_path / "t.json")
    assert "mean of epochs 3-4" in caplog.text
    assert summary["best_epoch"] == 4  # the averaged weights stand for the end of the run
    # the summary's validation figure is the saved model's, not an epoch's
    model = keras.models.load_model(tmp_path / "avg.keras", compile=False)
    x_val, y_val = load_xy(features, "validation", len(p["dataset"]["labels"]))
    acc = float(np.mean(np.argmax(model.predict(x_val, verbose=0), axis=1) == y_val))
    assert summary["val_accuracy"] == pytest.approx(acc, abs=1e-6)


def test_main_errors(tiny_features, tmp_path):
    features, params = tiny_features
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(params))
    with pytest.raises(TrainError) as e:
        main(["--features", str(features), "--out", str(tmp_path / "m.h5"), "--params", str(pfile)])
    assert str(e.value) == f"{tmp_path / 'm.h5'}: the model file must end in .keras"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FeaturesError) as e:
        main(["--features", str(empty), "--out", str(tmp_path / "m.keras"), "--params", str(pfile)])
    assert str(e.value) == f"{empty / 'train.npz'}: features missing (run the features stage)"
    wrong = copy.deepcopy(params)
    wrong["dataset"]["labels"] = wrong["dataset"]["labels"][:5]
    wrong["dataset"]["keywords"] = wrong["dataset"]["labels"][2:]
    pfile.write_text(yaml.safe_dump(wrong))
    with pytest.raises(FeaturesError) as e:  # the split file does not fit the params
        main(
            [
                "--features",
                str(features),
                "--out",
                str(tmp_path / "m.keras"),
                "--params",
                str(pfile),
            ]
        )
    assert str(e.value).startswith(
        f"{features / 'train.npz'}: label index 11 outside dataset.labels"
    )
    assert not (tmp_path / "m.keras").exists()


def test_saved_model_bytes_do_not_depend_on_the_save_time(tmp_path, monkeypatch):
    """Keras stamps the save date into .keras; we drop it so DVC sees equal models as equal."""
    import datetime
    import types

    from tf_keras.src.saving import saving_lib

    from ml.fit import save_model

    model = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(2)])
    save_model(model, tmp_path / "a.keras")
    later = datetime.datetime(2031, 5, 17, 3, 4, 5)
    fake = types.SimpleNamespace(datetime=types.SimpleNamespace(now=lambda: later))
    monkeypatch.setattr(saving_lib, "datetime", fake)
    save_model(model, tmp_path / "b.keras")
    assert (tmp_path / "a.keras").read_bytes() == (tmp_path / "b.keras").read_bytes()
    assert keras.models.load_model(tmp_path / "b.keras").count_params() == 10
