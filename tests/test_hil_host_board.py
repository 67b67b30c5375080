"""The host board (the firmware itself on a pty) can fail the acceptance suite: a one-value
error planted in its front-end output fails front-end parity, one planted in a model output
fails agreement, and each failure names what differs. A bring-your-own model with another
input layout and label count boots and answers `audio` with its own labels."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from hil.client import Client
from hil.run_virtual import VirtualBoard
from tests.planted import planted_suite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(tiny_pipeline):
    return tiny_pipeline


def _suite(pipeline, tmp_path, plant: str, select: str) -> subprocess.CompletedProcess[str]:
    return planted_suite("esp32", "host", pipeline, tmp_path, plant=plant, select=select)


def test_planted_frontend_error_fails_parity(pipeline, tmp_path):
    run = _suite(pipeline, tmp_path, "frontend", "test_frontend_parity")
    assert run.returncode == 1, run.stdout[-2000:]
    # one value planted per clip: each clip is off the known set by a NEW (0, 0) difference
    assert "front-end differences off the known set: clip 0 (" in run.stdout, run.stdout[-2000:]
    assert "esp32: clip 0 frame 0 channel 0: firmware " in run.stdout, run.stdout[-2000:]
    assert "(NEW)" in run.stdout, run.stdout[-2000:]


def test_planted_output_error_fails_agreement(pipeline, tmp_path):
    run = _suite(pipeline, tmp_path, "output", "test_golden_agreement")
    assert run.returncode == 1, run.stdout[-2000:]
    assert "agreement 0.0000 (top-1" in run.stdout, run.stdout[-2000:]
    assert "largest difference 1, differing vectors 0,1," in run.stdout, run.stdout[-2000:]


def _byo_model(tmp_path, settings):
    """Not our model: micro_speech's layout (flattened 1x1960 input) and 4 labels."""
    import tensorflow as tf

    inp = tf.keras.Input((1960,), batch_size=1)
    out = tf.keras.layers.Dense(4, activation="softmax")(tf.keras.layers.Dense(8)(inp))
    conv = tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(inp, out))
    rng = np.random.default_rng(0)
    conv.representative_dataset = lambda: (
        [rng.uniform(0, 26, (1, 1960)).astype(np.float32)] for _ in range(8)
    )
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    (tmp_path / "model_int8.tflite").write_bytes(conv.convert())
    s = dict(settings, labels=["silence", "unknown", "yes", "no"])
    s["output"] = dict(s["output"], shape=[1, 4])
    s["model"] = {"file": "model_int8.tflite"}  # no sha/arena/MACs: measured at start
    (tmp_path / "model_settings.json").write_text(json.dumps(s))
    return tmp_path / "model_settings.json"


def test_bring_your_own_model_answers_audio_with_its_labels(pipeline, tmp_path):
    settings = json.loads((pipeline / "firmware/generated/model_settings.json").read_text())
    byo = _byo_model(tmp_path, settings)
    with VirtualBoard("esp32", byo) as vb:
        client = Client(vb.port, timeout_s=5.0, name="esp32")
        ident = client.identity()
        assert (ident["labels"], ident["input"]) == ("4", "49x40")
        assert 0 < int(ident["arena_used"]) <= int(ident["arena_size"])
        with np.load(pipeline / "hil/vectors/audio.npz") as z:
            clip = z["audio"][0]
        out = client.audio(clip)
        assert out["label"] in ("silence", "unknown", "yes", "no")
        assert len(out["scores"]) == 4
        assert client.command("labels").lines == ["m-labels silence,unknown,yes,no"]
        client.close()


def test_truncated_model_is_refused_by_the_firmwares_verifier(pipeline, tmp_path):
    """A .tflite with a valid header and a truncated body: the firmware's flatbuffer verifier
    refuses it at boot (safe mode, e-not-ready reason=model-schema), the board stays up."""
    gen = pipeline / "firmware/generated"
    s = json.loads((gen / "model_settings.json").read_text())
    blob = (gen / s["model"]["file"]).read_bytes()
    (tmp_path / "model_int8.tflite").write_bytes(blob[: len(blob) // 2])
    s["model"] = dict(s["model"], file="model_int8.tflite")
    (tmp_path / "model_settings.json").write_text(json.dumps(s))
    with VirtualBoard("esp32", tmp_path / "model_settings.json") as vb:
        client = Client(vb.port, timeout_s=5.0, name="esp32")
        assert client.identity()["model_sha256"] == s["model"]["sha256"]
        assert client.command("labels").errors == ["e-not-ready reason=model-schema"]
        client.close()


def test_host_board_reports_its_build_stamp(pipeline):
    """Provenance is stamped by the firmware build (git sha, UTC build time), not the export."""
    from hil.version import firmware_version, matches, split_stamp

    head = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    settings = pipeline / "firmware/generated/model_settings.json"
    with VirtualBoard("esp32", settings, []) as vb:
        client = Client(vb.port, timeout_s=20.0, name="esp32")
        try:
            fw = client.sync()["fw"]
        finally:
            client.close()
    assert matches(fw, firmware_version()), fw
    stamp = split_stamp(fw)[1]
    assert stamp.startswith(f"+g{head or 'nogit'}"), (fw, head)
    export = pipeline / "firmware/generated"
    assert not any(head and head in f.read_text() for f in export.glob("*.[hj]*"))  # not there
    assert not matches("1.0.0+g123.20261130T000000Z", "1.0.0")  # a malformed stamp is caught
    assert not matches(fw, "9.9.9")
