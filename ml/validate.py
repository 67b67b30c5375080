"""DVC stage `validate`: check the dataset and write the data report.

    python -m ml.validate --data DIR --report REPORT.json [--params params.yaml]

(dvc.yaml names the paths; `python -m ml.validate --help` lists the options.)

Every problem found is printed as one line (`error: <file or class>: <what>`), all of them,
then the stage fails; the report is written (atomically) only for a clean dataset.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ml.audio import AudioError, read_wav
from ml.dataset import (
    LIST_FILES,
    SILENCE,
    SPLITS,
    DatasetError,
    background_files,
    check_root,
    label_index,
    read_list,
    speaker_of,
    wav_files,
)
from ml.errors import KwsError, run_main
from ml.fsutil import write_json_atomic as write_json
from ml.params import DEFAULT_PARAMS, load_params
from ml.progress import progress as progress_bar

log = logging.getLogger(__name__)


class ValidationError(KwsError):
    """The dataset has problems (each one already printed on its own line)."""


def _splits(root: Path, files: list[str], problems: list[str]) -> dict[str, str]:
    """rel -> split from the list files; a missing list or a dangling entry is a problem."""
    present = set(files)
    split: dict[str, str] = {}
    for name in ("validation", "testing"):
        try:
            entries = read_list(root, name)
        except DatasetError as exc:
            problems.append(str(exc))
            continue
        for rel in entries:
            if rel not in present:
                problems.append(f"{root / LIST_FILES[name]}: lists {rel}, which does not exist")
            elif rel in split:
                problems.append(f"{root / LIST_FILES[name]}: {rel} is also in {split[rel]}")
            else:
                split[rel] = name
    return split


def validate(root: Path, params: dict[str, Any], progress: bool = True) -> dict[str, Any]:
    """Check the dataset at `root`; return the report or raise after printing each problem."""
    root = check_root(root)
    ds, vp = params["dataset"], params["validate"]
    labels: list[str] = list(ds["labels"])
    rate = ds["sample_rate"]
    max_samples = rate * vp["max_clip_ms"] // 1000
    silent_rms = 32768.0 * 10 ** (vp["silent_rms_dbfs"] / 20)
    problems: list[str] = []

    files = wav_files(root)
    split_of = _splits(root, files, problems)
    per_class: dict[str, Counter[str]] = {lab: Counter() for lab in labels if lab != SILENCE}
    per_word: Counter[str] = Counter()
    speakers: dict[str, set[str]] = defaultdict(set)  # speaker -> splits
    speaker_example: dict[tuple[str, str], str] = {}
    by_hash: dict[str, list[tuple[str, str]]] = defaultdict(list)
    rates: Counter[int] = Counter()
    durations: list[float] = []
    clipped_samples = total_samples = clipped_clips = silent_clips = 0

    for rel in progress_bar(files, desc="validate", unit="clip", enabled=progress):
        path = root / rel
        split = split_of.get(rel, "training")
        try:
            audio, sr = read_wav(path)
        except AudioError as exc:
            problems.append(str(exc))
            continue
        rates[sr] += 1
        if sr != rate:
            problems.append(f"{path}: sample rate {sr} Hz, expected {rate} Hz")
            continue
        if len(audio) > max_samples:
            problems.append(
                f"{path}: {1000 * len(audio) / sr:.0f} ms long,"
                f" above validate.max_clip_ms = {vp['max_clip_ms']}"
            )
        word = rel.split("/", 1)[0]
        per_word[word] += 1
        per_class[labels[label_index(word, labels)]][split] += 1
        spk = speaker_of(rel)
        speakers[spk].add(split)
        speaker_example.setdefault((spk, split), rel)
        by_hash[hashlib.sha256(audio.tobytes()).hexdigest()].append((split, rel))
        durations.append(len(audio) / sr)
        x = np.abs(audio.astype(np.int32))
        n_clipped = int(np.count_nonzero(x >= vp["clip_level"]))
        clipped_samples += n_clipped
        clipped_clips += n_clipped > 0
        total_samples += len(audio)
        rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) if len(audio) else 0.0
        silent_clips += rms < silent_rms

    if not files:
        problems.append(f"{root}: empty dataset (no <word>/*.wav clips)")
    bg_seconds: list[float] = []
    bg = background_files(root)
    if not bg:
        problems.append(f"{root}: no _background_noise_/*.wav (needed for {SILENCE})")
    for path in bg:
        try:
            audio, sr = read_wav(path)
        except AudioError as exc:
            problems.append(str(exc))
            continue
        if sr != rate:
            problems.append(f"{path}: sample rate {sr} Hz, expected {rate} Hz")
        bg_seconds.append(len(audio) / sr)
    if files:
        for label, counts in per_class.items():
            n = sum(counts.values())
            if n < vp["min_clips_per_class"]:
                problems.append(
                    f"class {label}: {n} clips, below validate.min_clips_per_class"
                    f" = {vp['min_clips_per_class']}"
                )
    for spk in sorted(speakers):
        splits = [s for s in SPLITS if s in speakers[spk]]
        if len(splits) > 1:
            where = ", ".join(f"{s} ({speaker_example[spk, s]})" for s in splits)
            problems.append(f"speaker {spk} is in more than one split: {where}")
    for entries in sorted(by_hash.values()):
        splits = sorted({s for s, _ in entries}, key=SPLITS.index)
        if len(splits) > 1:
            first = {s: min(r for t, r in entries if t == s) for s in splits}
            where = ", ".join(f"{first[s]} ({s})" for s in splits)
            problems.append(f"identical audio in more than one split: {where}")

    if len(problems) == 1:
        raise ValidationError(f"{problems[0]} (report not written)")
    if problems:
        for line in problems:
            print(f"error: {line}", file=sys.stderr, flush=True)
        raise ValidationError(f"{root}: {len(problems)} problem(s) found, report not written")

    split_counts = Counter(split_of.get(rel, "training") for rel in files)
    return {
        "clips": len(files),
        "clips_per_split": {s: split_counts[s] for s in SPLITS},
        "clips_per_class": {
            lab: {"total": sum(c.values()), **{s: c[s] for s in SPLITS}}
            for lab, c in per_class.items()
        },
        "words": dict(sorted(per_word.items())),
        "speakers": {
            "total": len(speakers),
            **{s: sum(s in v for v in speakers.values()) for s in SPLITS},
        },
        "duration_s": {
            "min": round(min(durations), 4),
            "mean": round(float(np.mean(durations)), 4),
            "max": round(max(durations), 4),
        },
        "sample_rates": {str(r): n for r, n in sorted(rates.items())},
        "clipping_ratio": clipped_samples / total_samples if total_samples else 0.0,
        "clipped_clips": clipped_clips,
        "silent_clips": silent_clips,
        "background": {"files": len(bg), "seconds": round(sum(bg_seconds), 3)},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.validate", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="dataset root")
    ap.add_argument("--report", type=Path, required=True, help="JSON data report to write")
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    args = ap.parse_args(argv)
    params = load_params(args.params)
    report = validate(args.data, params)
    write_json(args.report, report)
    log.info(
        "%s: %d clips, %d speakers, OK -> %s",
        args.data,
        report["clips"],
        report["speakers"]["total"],
        args.report,
    )
    return 0


if __name__ == "__main__":
    run_main(main)
