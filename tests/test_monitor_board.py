"""Monitoring against a virtual board running the tiny model: telemetry of the test split
raises no drift alarm, telemetry of keywords spoken by flite's voices in white noise at 0 dB
SNR (the issue's held-out engine at low SNR; the tiny dataset's engines come from params.yaml
synth.engines) raises one, and `collect` saves the clip whose top score
fell in the band, and nothing when the band caught none."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from hil.client import Client
from hil.run_virtual import VirtualBoard
from ml.audio import read_wav
from ml.dataset import list_clips
from ml.params import load_params

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
FLITE_VOICES = ("slt", "rms", "awb", "kal16")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def tiny(tiny_pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    params = load_params(tiny_pipeline / "params.yaml")
    clips = list_clips(tiny_pipeline / "data/speech_commands", params)["testing"]
    audio = [read_wav(c.path)[0] for c in clips]
    # the repo's params with a minimum the 36-clip tiny test split reaches: judged, not skipped
    mine = yaml.safe_load((REPO / "params.yaml").read_text())
    mine["monitor"]["min_inferences"] = 20
    path = tmp_path_factory.mktemp("params") / "params.yaml"
    path.write_text(yaml.safe_dump(mine, sort_keys=False))
    return {"root": tiny_pipeline, "params": params, "audio": audio, "params_file": path}


@pytest.fixture(scope="module")
def board(tiny: dict):
    settings = tiny["root"] / "firmware/generated/model_settings.json"
    with VirtualBoard("esp32", settings) as vb:  # front-end warmed up before the port
        yield vb.port


def feed(port: str, clips: list[np.ndarray]) -> list[dict]:
    """Reset the board (counters zero), run `audio` on every clip; the results."""
    client = Client(port, timeout_s=20.0, name="esp32")
    try:
        client.sync()
        client.reset()
        return [client.audio(c) for c in clips]
    finally:
        client.close()


def drift_check(tiny: dict, port: str, name: str, tmp: Path) -> subprocess.CompletedProcess:
    store = tmp / "telemetry"
    pf = str(tiny["params_file"])
    res = run(
        *("-m", "hil.telemetry", "--board", "esp32", "--port", port),
        *("--name", name, "--store", str(store), "--params", pf),
    )
    assert res.returncode == 0, res.stderr
    report = tmp / "monitor.json"
    res = run(
        *("-m", "ml.monitor", "--telemetry", str(store), "--params", pf),
        *("--reference", str(tiny["root"] / "reports/reference.json")),
        *("--metrics", str(report), "--plots", str(tmp / "plots")),
    )
    assert res.returncode == 0, res.stderr
    board = json.loads(report.read_text())["per_board"][name]
    assert board["judged"], board
    return run("-m", "ml.monitor", "--check", str(report), "--params", pf)


def test_test_split_raises_no_drift_alarm(tiny: dict, board: str, tmp_path: Path) -> None:
    feed(board, tiny["audio"])
    res = drift_check(tiny, board, "clean", tmp_path)
    assert res.returncode == 0, res.stderr
    assert "no drift" in res.stdout


def flite_clips(words: list[str], rate: int, snr_db: float, seed: int = 3) -> list[np.ndarray]:
    """Keywords spoken by flite's voices, resampled to `rate`, in white noise at `snr_db`."""
    from scipy.signal import resample_poly

    rng = np.random.default_rng(seed)
    out = []
    with tempfile.TemporaryDirectory() as d:
        for voice in FLITE_VOICES:
            for word in words:
                wav = Path(d) / f"{voice}_{word}.wav"
                subprocess.run(["flite", "-voice", voice, "-t", word, "-o", str(wav)], check=True)
                x, sr = read_wav(wav)
                x = resample_poly(x.astype(np.float64), rate, sr) if sr != rate else x * 1.0
                x = x[:rate]
                noise = rng.normal(0.0, 1.0, rate)
                noise *= np.sqrt(np.mean(x**2) / 10 ** (snr_db / 10)) / np.sqrt(np.mean(noise**2))
                y = np.zeros(rate)
                y[: len(x)] = x
                out.append(np.clip(np.round(y + noise), -32768, 32767).astype(np.int16))
    return out


@pytest.mark.skipif(shutil.which("flite") is None, reason="needs flite (tools/apt-deps.sh)")
def test_held_out_engine_at_low_snr_raises_a_drift_alarm(
    tiny: dict, board: str, tmp_path: Path
) -> None:
    p = tiny["params"]
    clips = flite_clips(p["dataset"]["keywords"], p["dataset"]["sample_rate"], snr_db=0.0)
    feed(board, clips)
    res = drift_check(tiny, board, "shifted", tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: drift: board shifted: distribution ")
    assert "vs reference test: " in lines[0]


def collect(board: str, out: Path) -> subprocess.CompletedProcess:
    return run(
        *("-m", "hil.collect", "--board", "esp32", "--port", board, "--name", "field1"),
        *("--out", str(out)),
    )


def test_collect_saves_the_clip_in_the_band_and_nothing_otherwise(
    tiny: dict, board: str, tmp_path: Path
) -> None:
    audio = tiny["audio"][:8]
    results = feed(board, audio)  # the band is off after boot: nothing is kept
    out = tmp_path / "field"
    res = collect(board, out)
    assert res.returncode == 0, res.stderr
    assert "0 clip(s)" in res.stdout and not list(out.rglob("*.wav"))

    # a band around one clip's top score, that another clip's score misses
    scores = [r["score"] for r in results]
    a = next(i for i, s in enumerate(scores) if any(t != s for t in scores))
    b = next(i for i, s in enumerate(scores) if s != scores[a])
    client = Client(board, timeout_s=20.0, name="esp32")
    try:
        client.sync()
        assert client.clipband((scores[a], scores[a])) == {
            "state": "on",
            "lo": str(scores[a]),
            "hi": str(scores[a]),
        }
        client.audio(audio[a])
        client.audio(audio[b])  # out of the band: the held clip stays
        sha8 = client.identity()["model_sha256"][:8]
    finally:
        client.close()
    res = collect(board, out)
    assert res.returncode == 0, res.stderr
    wavs = list(out.rglob("*.wav"))
    label = results[a]["label"]
    assert wavs == [out / label / f"field1_{sha8}_nohash_0.wav"]
    pcm, rate = read_wav(wavs[0])
    assert rate == 16000
    want = np.zeros(len(pcm), np.int16)
    want[: len(audio[a])] = audio[a]
    assert len(pcm) == 16000  # the clip as the board held it: 1 s, zero-padded
    np.testing.assert_array_equal(pcm, want)
    side = json.loads(wavs[0].with_suffix(".json").read_text())
    assert side["status"] == "pending-label" and side["predicted"] == label
    assert side["score"] == scores[a]
    assert list(side["scores"].values()) == [int(v) for v in results[a]["scores"]]
    assert side["band"] == {"state": "on", "lo": str(scores[a]), "hi": str(scores[a])}

    res = collect(board, out)  # taken: the board's buffer is empty again
    assert res.returncode == 0 and "0 clip(s)" in res.stdout
    assert len(list(out.rglob("*.wav"))) == 1


def test_evaluate_writes_the_reference_distributions(tiny: dict) -> None:
    m = json.loads((tiny["root"] / "metrics/evaluate.json").read_text())
    ref = json.loads((tiny["root"] / "reports/reference.json").read_text())
    assert "reference" not in m and "stream_scores" not in m  # not metrics
    assert ref["labels"] == tiny["params"]["dataset"]["labels"]
    test, stream = ref["references"]["test"], ref["references"]["stream"]
    assert test["inferences"] == sum(test["hist"]) == m["test_examples"]
    assert stream["inferences"] == sum(stream["hist"]) == m["stream_inferences"]
    assert set(test["detections"]) == set(tiny["params"]["dataset"]["keywords"])
    # the stream's detections (per inference) are at least its recognizer's false accepts
    assert sum(stream["detections"].values()) >= m["false_accepts"]
