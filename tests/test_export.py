"""ml/export.py: the generated firmware files and golden vectors follow docs/contracts.md."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ml import export, tflm
from ml.params import load_params

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
HEADER_CONSTANTS = [
    "kNumLabels", "kLabels", "kFeatureSliceCount", "kFeatureSliceSize", "kFeatureElementCount",
    "kInputScale", "kInputZeroPoint", "kOutputScale", "kOutputZeroPoint", "kSampleRate",
    "kClipSamples", "kWindowSizeMs", "kWindowStrideMs", "kNumChannels", "kLowerBandLimit",
    "kUpperBandLimit", "kSmoothingBits", "kEvenSmoothing", "kOddSmoothing",
    "kMinSignalRemaining", "kEnablePcan", "kPcanStrength", "kPcanOffset", "kGainBits",
    "kEnableLog", "kScaleShift", "kAverageWindowMs", "kDetectionThreshold", "kSuppressionMs",
    "kMinimumCount", "kTensorArenaSize", "kModelSha256", "kDataHash", "kOpCount",
    "kOps",
]  # fmt: skip


@pytest.fixture(scope="module")
def out(tiny_pipeline: Path) -> dict:
    gen, vec = tiny_pipeline / "firmware/generated", tiny_pipeline / "hil/vectors"
    model = (tiny_pipeline / "build/model/model_int8.tflite").read_bytes()
    return {
        "root": tiny_pipeline,
        "gen": gen,
        "vec": vec,
        "model": model,
        "settings": json.loads((gen / "model_settings.json").read_text()),
        "params": load_params(tiny_pipeline / "params.yaml"),
    }


def test_directory_contents(out: dict) -> None:
    assert sorted(p.name for p in out["gen"].iterdir()) == [
        "model_data.cc",
        "model_data.h",
        "model_int8.tflite",
        "model_settings.h",
        "model_settings.json",
    ]
    assert sorted(p.name for p in out["vec"].iterdir()) == [
        "audio.npz",
        "features.npz",
        "manifest.json",
    ]
    assert (out["gen"] / "model_int8.tflite").read_bytes() == out["model"]


def ds_cnn_macs_by_hand(p: dict) -> int:
    """Multiply-accumulates of ml.models' DS-CNN from its params, counted by hand (not read
    from the flatbuffer as ml.tflm.count_macs does). With the tiny params (32 filters, 2
    blocks, a 10x4 first kernel, stride 2x2 over 49x40): the first conv 25x20x32 x (10x4) =
    640,000; per block a depthwise 3x3 25x20x32 x 9 = 144,000 and a pointwise 25x20x32 x 32 =
    512,000; the head 12 x 32 = 384 on the pooled map: 640,000 + 2 x 656,000 + 384 = 1,952,384.
    """
    ds = p["model"]["ds_cnn"]
    assert p["model"]["architecture"] == "ds_cnn"  # the tiny profile's (ml.tiny TINY)
    filters, (kh, kw), (sh, sw) = ds["filters"], ds["first_kernel"], ds["first_stride"]
    cells = -(-49 // sh) * -(-40 // sw)  # 'same' padding: ceil(49 / sh) x ceil(40 / sw)
    first = cells * filters * kh * kw
    block = cells * filters * 9 + cells * filters * filters
    return first + ds["blocks"] * block + 12 * filters


def test_ds_cnn_macs_by_hand_of_the_tiny_shape() -> None:
    tiny = {"architecture": "ds_cnn", "ds_cnn": {
        "filters": 32, "blocks": 2, "first_kernel": [10, 4], "first_stride": [2, 2]}}  # fmt: skip
    assert ds_cnn_macs_by_hand({"model": tiny}) == 1_952_384


def test_settings_json(out: dict) -> None:
    s, p, model = out["settings"], out["params"], out["model"]
    assert set(s) == {
        "schema", "labels", "input", "output", "frontend", "recognizer", "model", "provenance",
    }  # fmt: skip
    assert s["schema"] == 1
    assert s["labels"] == p["dataset"]["labels"]
    assert s["input"]["shape"] == [1, 49, 40] and s["input"]["dtype"] == "int8"
    assert s["input"]["zero_point"] == -128
    assert s["input"]["scale"] == pytest.approx(26 / 256)
    assert s["output"]["shape"] == [1, 12] and s["output"]["dtype"] == "int8"
    assert s["frontend"] == {**p["frontend"], "sample_rate": 16000, "clip_duration_ms": 1000}
    assert s["recognizer"] == p["recognizer"]
    m = s["model"]
    assert m["file"] == "model_int8.tflite"
    assert m["sha256"] == hashlib.sha256(model).hexdigest()
    assert m["bytes"] == len(model)
    # the DS-CNN's layers (ml.models): reshape, convs, depthwise convs, average pool, softmax
    assert m["ops"] == ["AVERAGE_POOL_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "RESHAPE", "SOFTMAX"]
    assert m["macs"] == ds_cnn_macs_by_hand(p)
    # the arena figure is what TFLM needs: enough to run the model, and not twice too much
    x = np.zeros((1, 49, 40), np.int8)
    assert tflm.run_tflm(model, x, arena_size=m["arena_bytes"]).shape == (1, 12)
    with pytest.raises(tflm.ModelFileError, match=r"^model: TFLM cannot load it"):
        tflm.run_tflm(model, x, arena_size=m["arena_bytes"] // 2)
    assert m["tensor_arena_size"] % 16 == 0 and m["tensor_arena_size"] > m["arena_bytes"]
    # no git sha, time or path: equal models give equal exports (the firmware build stamps)
    assert set(s["provenance"]) == {"data_hash", "params_hash"}


def test_header_has_every_constant_and_matches_json(out: dict) -> None:
    h = (out["gen"] / "model_settings.h").read_text()
    s = out["settings"]
    assert "namespace kws {" in h and "namespace settings {" in h
    for name in HEADER_CONSTANTS:
        assert re.search(rf"\b{name}\b(\[[^\]]*\])? =", h), name
    assert f'kModelSha256[] = "{s["model"]["sha256"]}"' in h
    assert f"kTensorArenaSize = {s['model']['tensor_arena_size']};" in h
    assert f"kOpCount = {len(s['model']['ops'])};" in h
    assert f'kDataHash[] = "{s["provenance"]["data_hash"]}"' in h
    cc = (out["gen"] / "model_data.cc").read_text()
    assert "alignas(16) const unsigned char g_kws_model_data[]" in cc
    assert f"g_kws_model_data_len = {len(out['model'])};" in cc
    values = [int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", cc)]
    assert bytes(values) == out["model"]


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ to compile the headers")
def test_headers_compile_and_agree(out: dict, tmp_path: Path) -> None:
    main = tmp_path / "main.cc"
    main.write_text(
        '#include <cstdio>\n#include "model_data.h"\n#include "model_settings.h"\n'
        "int main() {\n"
        "  using namespace kws::settings;\n"
        "  static_assert(kFeatureElementCount == kFeatureSliceCount * kFeatureSliceSize);\n"
        "  static_assert(kTensorArenaSize % 16 == 0);\n"
        '  std::printf("%u %d %s %s %d\\n", g_kws_model_data_len, kNumLabels, kLabels[2],\n'
        "              kOps[0], (int)(reinterpret_cast<unsigned long>(g_kws_model_data) % 16));\n"
        "}\n"
    )
    exe = tmp_path / "a.out"
    subprocess.run(
        ["g++", "-std=c++17", "-Wall", "-Werror", f"-I{out['gen']}", str(main),
         str(out["gen"] / "model_data.cc"), "-o", str(exe)],
        check=True,
    )  # fmt: skip
    res = subprocess.run([str(exe)], capture_output=True, text=True, check=True)
    s = out["settings"]
    assert res.stdout.split() == [
        str(len(out["model"])), "12", s["labels"][2], s["model"]["ops"][0], "0",
    ]  # fmt: skip


def test_golden_vectors(out: dict) -> None:
    from ml.frontend import stream_features
    from ml.splits import load_split

    p = out["params"]
    with np.load(out["vec"] / "features.npz") as z:
        x, y, expected = z["x"], z["y"], z["expected"]
    assert x.dtype == np.int8 and x.shape[1:] == (49, 40)
    assert y.dtype == np.int64 and expected.dtype == np.int8
    assert expected.shape == (len(x), 12)
    assert len(x) == min(
        p["export"]["golden_vectors"], len(load_split(out["root"] / "build/features", "test")[0])
    )
    # the expected outputs are TFLM's (what the boards run); TFLite's reference kernels, another
    # runtime, must give the same bytes (ml.tflm: CONV_2D heads are bit-exact between them)
    assert np.array_equal(expected, tflm.run_tflite(out["model"], x))
    with np.load(out["vec"] / "audio.npz") as z:
        audio, feats, ay = z["audio"], z["features"], z["y"]
    assert audio.dtype == np.int16 and audio.shape == (p["export"]["golden_audio"], 16000)
    assert feats.dtype == np.int8 and feats.shape == (len(audio), 49, 40)
    assert ay.dtype == np.int64 and len(set(ay.tolist())) == len(ay)  # round-robin labels
    # export computes them clip by clip (compute_features); the streaming front-end, another
    # path through the same TFLM library, gives the same slices for a 1 s clip
    for a, f in zip(audio, feats, strict=True):
        assert np.array_equal(f, stream_features(a, p["frontend"], 16000))
    manifest = json.loads((out["vec"] / "manifest.json").read_text())
    assert manifest == {
        "model_sha256": out["settings"]["model"]["sha256"],
        "vectors": len(x),
        "audio": len(audio),
        "labels": p["dataset"]["labels"],
    }


def test_missing_metrics_fails_and_keeps_old_outputs(out: dict, tmp_path: Path) -> None:
    fw, vec = tmp_path / "generated", tmp_path / "vectors"
    shutil.copytree(out["gen"], fw)
    shutil.copytree(out["vec"], vec)
    before = {p.name: p.read_bytes() for p in fw.iterdir()}
    root = out["root"]
    res = subprocess.run(
        [sys.executable, "-m", "ml.export", "--int8", str(root / "build/model/model_int8.tflite"),
         "--features", str(root / "build/features"), "--data", str(root / "data/speech_commands"),
         "--metrics", str(tmp_path / "missing.json"), "--firmware", str(fw), "--vectors",
         str(vec), "--params", str(root / "params.yaml")],
        capture_output=True, text=True, env=ENV, cwd=REPO, timeout=300, check=False,
    )  # fmt: skip
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'missing.json'}: evaluate metrics missing (run the evaluate stage)"
    )
    assert {p.name: p.read_bytes() for p in fw.iterdir()} == before
    assert not list(tmp_path.glob(".*partial"))


def test_pick_and_data_hash(tmp_path: Path) -> None:
    assert export.pick(5, 10).tolist() == [0, 1, 2, 3, 4]
    assert export.pick(10, 3).tolist() == [0, 4, 9]
    root = tmp_path / "ds"
    (root / "yes").mkdir(parents=True)
    (root / "yes/a.wav").write_bytes(b"x")
    h1 = export.data_hash(root)
    (root / "yes/b.wav").write_bytes(b"y")
    assert export.data_hash(root) != h1
    (tmp_path / "ds.dvc").write_text("outs:\n- path: ds\n  md5: 0123456789abcdef.dir\n")
    assert export.data_hash(root) == "0123456789abcdef"


def export_argv(root: Path, fw: Path, vec: Path) -> list[str]:
    return [
        sys.executable, "-m", "ml.export", "--int8", str(root / "build/model/model_int8.tflite"),
        "--features", str(root / "build/features"), "--data", str(root / "data/speech_commands"),
        "--metrics", str(root / "metrics/evaluate.json"), "--firmware", str(fw),
        "--vectors", str(vec), "--params", str(root / "params.yaml"),
    ]  # fmt: skip


@pytest.mark.slow
def test_export_is_byte_identical_anywhere(out: dict, tmp_path: Path) -> None:
    """Another directory (and commit) gives the same bytes: nothing machine- or commit-specific."""
    fw, vec = tmp_path / "elsewhere/generated", tmp_path / "elsewhere/vectors"
    res = subprocess.run(
        export_argv(out["root"], fw, vec),
        capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=300, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    for mine, theirs in ((fw, out["gen"]), (vec, out["vec"])):
        names = sorted(p.name for p in theirs.iterdir())
        assert sorted(p.name for p in mine.iterdir()) == names
        for name in names:
            assert (mine / name).read_bytes() == (theirs / name).read_bytes(), name
    for p in fw.iterdir():
        text = p.read_bytes()
        assert str(REPO).encode() not in text and str(tmp_path).encode() not in text, p.name


@pytest.mark.parametrize("kill_after", [0, 1, 2, 3])
def test_a_swap_killed_halfway_is_never_a_mix(tmp_path: Path, kill_after: int) -> None:
    """replace_dirs killed after k renames: both dirs old or new (or absent), then recovered."""
    from ml import fsutil

    class Killed(BaseException):
        pass

    fw, vec = tmp_path / "firmware/generated", tmp_path / "hil/vectors"
    for d, tag in ((fw, "old"), (vec, "old")):
        d.mkdir(parents=True)
        (d / "model").write_text(tag)
    new_fw, new_vec = tmp_path / "firmware/.new", tmp_path / "hil/.new"
    for d in (new_fw, new_vec):
        d.mkdir()
        (d / "model").write_text("new")
    journal = export.swap_journal(fw)
    renames = {"n": 0}
    real_rename = Path.rename

    def rename(self: Path, target: Path) -> Path:
        if renames["n"] == kill_after:
            raise Killed  # like SIGKILL: no cleanup runs
        renames["n"] += 1
        return real_rename(self, target)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "rename", rename)
        with pytest.raises(Killed):
            fsutil.replace_dirs([(new_fw, fw), (new_vec, vec)], journal)
    seen = {d: (d / "model").read_text() for d in (fw, vec) if d.is_dir()}
    assert len(set(seen.values())) <= 1, seen  # never one old and one new
    assert journal.is_file()
    assert fsutil.recover_dirs(journal)
    assert (fw / "model").read_text() == (vec / "model").read_text() == "new"
    assert not journal.exists()
    assert not fsutil.recover_dirs(journal)
    leftovers = [p.name for p in (*fw.parent.iterdir(), *vec.parent.iterdir())]
    assert sorted(leftovers) == ["generated", "vectors"]
