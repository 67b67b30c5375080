"""ml.validate: the data report, and one exact error line per problem (nothing written)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from ml.audio import write_wav
from ml.dataset import list_clips
from ml.errors import run_main
from ml.validate import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def data(tiny_dataset: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny dataset to break."""
    dst = tmp_path / "sc"
    shutil.copytree(tiny_dataset, dst)
    return dst


@pytest.fixture
def params_file(tiny_params: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tiny_params))
    return path


def run(data: Path, params_file: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """Run the CLI in-process; return (exit code, stderr lines without log lines)."""
    report = data.parent / "metrics" / "data.json"
    with pytest.raises(SystemExit) as exc:
        run_main(main, ["--data", str(data), "--report", str(report), "--params", str(params_file)])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error: ")]
    if exc.value.code:
        assert not report.exists(), "report written although validation failed"
    return int(exc.value.code or 0), err


def first(data: Path, split: str) -> str:
    return (data / f"{split}_list.txt").read_text().split()[0]


def training_clip(data: Path) -> str:
    listed = set((data / "validation_list.txt").read_text().split())
    listed |= set((data / "testing_list.txt").read_text().split())
    return next(
        str(p.relative_to(data))
        for p in sorted(data.glob("yes/*.wav"))
        if str(p.relative_to(data)) not in listed
    )


def test_clean_dataset_report(
    data: Path, params_file: Path, tiny_params: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(data, params_file, capsys)
    assert (code, err) == (0, [])
    report = json.loads((data.parent / "metrics" / "data.json").read_text())
    clips = list_clips(data, tiny_params)
    assert report["clips"] == 144  # 12 speakers x (10 keywords + 2 unknown words)
    assert report["clips_per_split"] == {s: len(c) for s, c in clips.items()}  # the list files
    assert sum(report["clips_per_split"].values()) == 144
    assert report["clips_per_class"]["yes"]["total"] == 12
    assert report["clips_per_class"]["_unknown_"]["total"] == 24
    assert "_silence_" not in report["clips_per_class"]
    assert report["speakers"]["total"] == 12
    assert report["speakers"]["validation"] >= 2 and report["speakers"]["testing"] >= 2
    assert report["duration_s"] == {"min": 1.0, "mean": 1.0, "max": 1.0}
    assert report["sample_rates"] == {"16000": report["clips"]}
    assert 0.0 <= report["clipping_ratio"] < 0.001
    assert report["silent_clips"] == 0
    assert report["background"] == {"files": 5, "seconds": 15.0}


def test_silent_and_clipped_clips_are_counted(
    data: Path, params_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_wav(data / "yes" / "00000001_nohash_0.wav", np.zeros(16000, np.int16), 16000)
    loud = np.full(16000, 32767, np.int16)
    loud[::2] = -32768
    write_wav(data / "yes" / "00000002_nohash_0.wav", loud, 16000)
    assert run(data, params_file, capsys) == (0, [])
    report = json.loads((data.parent / "metrics" / "data.json").read_text())
    assert report["silent_clips"] == 1
    assert report["clipped_clips"] == 1
    assert report["clipping_ratio"] == pytest.approx(16000 / (16000 * report["clips"]), rel=0.05)


def test_corrupt_wav(data: Path, params_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = data / training_clip(data)
    bad.write_bytes(b"garbage, not RIFF")
    code, err = run(data, params_file, capsys)
    assert code == 1
    assert err == [f"error: {bad}: unreadable wav (not a RIFF/WAVE file) (report not written)"]


def test_truncated_wav(data: Path, params_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = data / training_clip(data)
    bad.write_bytes(bad.read_bytes()[:1044])
    code, err = run(data, params_file, capsys)
    assert code == 1
    assert err == [
        f"error: {bad}: truncated wav (500 of 16000 samples present) (report not written)"
    ]


def test_wrong_sample_rate(
    data: Path, params_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = data / training_clip(data)
    write_wav(bad, np.zeros(8000, np.int16), 8000)
    code, err = run(data, params_file, capsys)
    assert code == 1
    assert err == [f"error: {bad}: sample rate 8000 Hz, expected 16000 Hz (report not written)"]


def _raw(path: Path, channels: int, width: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(16000)
        w.writeframes(b"\0" * 1600 * channels * width)


def test_wrong_channels_and_width(
    data: Path, params_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stereo, eight = data / "go" / "00000001_nohash_0.wav", data / "go" / "00000002_nohash_0.wav"
    _raw(stereo, 2, 2)
    _raw(eight, 1, 1)
    code, err = run(data, params_file, capsys)
    assert code == 1
    assert err == [
        f"error: {stereo}: 2 channels, expected mono",
        f"error: {eight}: 8-bit samples, expected 16-bit",
        f"error: {data}: 2 problem(s) found, report not written",
    ]


def test_clip_too_long(data: Path, params_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = data / training_clip(data)
    write_wav(bad, np.zeros(17000, np.int16), 16000)
    code, err = run(data, params_file, capsys)
    assert code == 1
    assert err == [
        f"error: {bad}: 1062 ms long, above validate.max_clip_ms = 1000 (report not written)"
    ]


def test_class_below_minimum(
    data: Path, params_file: Path, tiny_params: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    tiny_params["validate"]["min_clips_per_class"] = 13
    params_file.write_text(yaml.safe_dump(tiny_params))
    for p in sorted((data / "stop").glob("*.wav"))[:5]:
        p.unlink()
    for listing in ("validation_list.txt", "testing_list.txt"):
        lines = (data / listing).read_text().splitlines()
        (data / listing).write_text("".join(f"{x}\n" for x in lines if (data / x).exists()))
    code, err = run(data, params_file, capsys)
    assert code == 1
    expected = [
        f"error: class {w}: 12 clips, below validate.min_clips_per_class = 13"
        for w in tiny_params["dataset"]["keywords"]
    ]
    expected[tiny_params["dataset"]["keywords"].index("stop")] = (
        "error: class stop: 7 clips, below validate.min_clips_per_class = 13"
    )
    assert err == [*expected, f"error: {data}: 10 problem(s) found, report not written"]


def test_speaker_in_two_splits(
    data: Path, params_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rel = training_clip(data)  # yes/<spk>_nohash_0.wav, a training speaker
    spk = Path(rel).name.split("_nohash_")[0]
    other = rel.replace("yes/", "no/")
    with (data / "testing_list.txt").open("a") as f:
        f.write(f"{other}\n")
    example = min(str(p.relative_to(data)) for p in data.glob(f"*/{spk}_nohash_*.wav"))
    assert example != other
    code, err = run(data, params_file, capsys)
    assert code == 1
    assert err == [
        f"error: speaker {spk} is in more than one split: training ({example}), "
        f"testing ({other}) (report not written)"
    ]


def test_identical_audio_in_two_splits(
    data: Path, params_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test_rel = first(data, "testing")
    word = test_rel.split("/")[0]
    dup = f"{word}/00000000_nohash_0.wav"  # a new training speaker, same samples
    shutil.copy(data / test_rel, data / dup)
    code, err = run(data, params_file, capsys)
    assert code == 1
    assert err == [
        f"error: identical audio in more than one split: {dup} (training), "
        f"{test_rel} (testing) (report not written)"
    ]


def test_missing_list_files(
    data: Path, params_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (data / "validation_list.txt").unlink()
    (data / "testing_list.txt").unlink()
    code, err = run(data, params_file, capsys)
    assert code == 1
    # with the lists gone every speaker is in training: only the list problems remain
    assert err == [
        f"error: {data / 'validation_list.txt'}: list file missing",
        f"error: {data / 'testing_list.txt'}: list file missing",
        f"error: {data}: 2 problem(s) found, report not written",
    ]


def test_list_entry_without_file(
    data: Path, params_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (data / "validation_list.txt").open("a") as f:
        f.write("yes/ffffffff_nohash_0.wav\n")
    code, err = run(data, params_file, capsys)
    assert code == 1
    assert err == [
        f"error: {data / 'validation_list.txt'}: lists yes/ffffffff_nohash_0.wav,"
        " which does not exist (report not written)"
    ]


def test_empty_dataset(
    tmp_path: Path, params_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "empty"
    data.mkdir()
    (data / "validation_list.txt").write_text("")
    (data / "testing_list.txt").write_text("")
    code, err = run(data, params_file, capsys)
    assert code == 1
    assert err == [
        f"error: {data}: empty dataset (no <word>/*.wav clips)",
        f"error: {data}: no _background_noise_/*.wav (needed for _silence_)",
        f"error: {data}: 2 problem(s) found, report not written",
    ]


def test_missing_dataset_dir(
    tmp_path: Path, params_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(tmp_path / "nope", params_file, capsys)
    assert (code, err) == (
        1,
        [f"error: {tmp_path / 'nope'}: dataset directory not found (run `make data`)"],
    )


def test_cli_lists_every_problem_and_writes_nothing(data: Path, params_file: Path) -> None:
    """As DVC runs it: a subprocess, every problem on its own line, exit 1, no report."""
    corrupt = data / training_clip(data)
    corrupt.write_bytes(b"")
    long = data / "up" / "00000001_nohash_0.wav"
    write_wav(long, np.ones(20000, np.int16), 16000)
    (data / "testing_list.txt").unlink()
    report = data.parent / "metrics" / "data.json"
    res = subprocess.run(
        [sys.executable, "-m", "ml.validate", "--data", str(data), "--report", str(report),
         "--params", str(params_file)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert res.returncode == 1
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert lines == [
        f"error: {data / 'testing_list.txt'}: list file missing",
        # clips in path order: up/ before yes/
        f"error: {long}: 1250 ms long, above validate.max_clip_ms = 1000",
        f"error: {corrupt}: unreadable wav (not a RIFF/WAVE file)",
        f"error: {data}: 3 problem(s) found, report not written",
    ]
    assert "Traceback" not in res.stderr
    assert not report.exists() and not report.parent.exists()
