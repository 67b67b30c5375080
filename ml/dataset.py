"""The one loader for the Speech Commands v2 layout (real download or ml.synth output).

Layout: `<root>/<word>/<speaker>_nohash_<n>.wav`, `<root>/_background_noise_/*.wav`,
`<root>/validation_list.txt`, `<root>/testing_list.txt` (paths relative to root). The list
files are the split truth, as in the real dataset; `which_set` is TensorFlow's rule that
produced them (ml.synth uses it to write the lists for generated data).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.errors import KwsError

BACKGROUND_DIR = "_background_noise_"
UNKNOWN = "_unknown_"
SILENCE = "_silence_"
LIST_FILES = {"validation": "validation_list.txt", "testing": "testing_list.txt"}
SPLITS = ("training", "validation", "testing")
# As in tensorflow/examples/speech_commands/input_data.py.
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1
_NOHASH = re.compile(r"_nohash_.*$")
# A generated clip's speaker id names its engine: <word>/<engine>-<hash>_nohash_<n>.wav
_ENGINE = re.compile(r"^[^/]+/([a-z0-9]+)-[0-9a-f]+_nohash_")


class DatasetError(KwsError):
    """The dataset directory is missing or not in the Speech Commands layout."""


@dataclass(frozen=True)
class Clip:
    path: Path  # absolute (or root-joined) path of the wav
    rel: str  # "<word>/<file>.wav", as in the list files
    word: str  # directory name (the spoken word)
    label: int  # index in params["dataset"]["labels"]
    speaker: str  # file name with "_nohash_..." removed


def speaker_of(filename: str) -> str:
    """Speaker id of a clip: the base name with `_nohash_...` removed."""
    return _NOHASH.sub("", Path(filename).name)


def which_set(filename: str, validation_percentage: int, testing_percentage: int) -> str:
    """TensorFlow speech_commands' split rule: a stable hash of the speaker id.

    Every clip of one speaker lands in the same split, and adding clips never moves
    existing ones.
    """
    hash_name = speaker_of(filename)
    hashed = hashlib.sha1(hash_name.encode("utf-8")).hexdigest()
    percentage_hash = (int(hashed, 16) % (MAX_NUM_WAVS_PER_CLASS + 1)) * (
        100.0 / MAX_NUM_WAVS_PER_CLASS
    )
    if percentage_hash < validation_percentage:
        return "validation"
    if percentage_hash < testing_percentage + validation_percentage:
        return "testing"
    return "training"


def check_root(root: Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset directory not found (run `make data`)")
    return root


def word_dirs(root: Path) -> list[str]:
    """The word directories under root, sorted (everything but background and hidden dirs)."""
    return sorted(
        p.name
        for p in check_root(root).iterdir()
        if p.is_dir() and p.name != BACKGROUND_DIR and not p.name.startswith(".")
    )


def wav_files(root: Path) -> list[str]:
    """Every clip as a root-relative `word/file.wav`, sorted."""
    root = check_root(root)
    return [
        f"{word}/{p.name}" for word in word_dirs(root) for p in sorted((root / word).glob("*.wav"))
    ]


def read_list(root: Path, split: str) -> list[str]:
    """Entries of validation_list.txt / testing_list.txt (blank lines ignored)."""
    path = check_root(root) / LIST_FILES[split]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: list file missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: unreadable ({exc})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def label_index(word: str, labels: list[str]) -> int:
    """Keywords map to their own index, every other word to _unknown_."""
    if word in labels and word not in (SILENCE, UNKNOWN):
        return labels.index(word)
    return labels.index(UNKNOWN)


def split_of(root: Path) -> dict[str, str]:
    """rel path -> split, from the list files (everything not listed is training)."""
    split: dict[str, str] = {}
    for name in ("validation", "testing"):
        for rel in read_list(root, name):
            split[rel] = name
    return split


def list_clips(root: Path, params: dict[str, Any]) -> dict[str, list[Clip]]:
    """All clips by split ("training", "validation", "testing"), each list sorted by path."""
    root = check_root(root)
    labels = list(params["dataset"]["labels"])
    listed = split_of(root)
    files = wav_files(root)
    present = set(files)
    for rel, name in sorted(listed.items()):
        if rel not in present:
            raise DatasetError(f"{root / LIST_FILES[name]}: lists {rel}, which does not exist")
    out: dict[str, list[Clip]] = {s: [] for s in SPLITS}
    for rel in files:
        word, fname = rel.split("/", 1)
        out[listed.get(rel, "training")].append(
            Clip(
                path=root / word / fname,
                rel=rel,
                word=word,
                label=label_index(word, labels),
                speaker=speaker_of(fname),
            )
        )
    return out


def background_files(root: Path) -> list[Path]:
    """The `_background_noise_` recordings, sorted (empty when the directory is absent)."""
    bg = check_root(root) / BACKGROUND_DIR
    return sorted(bg.glob("*.wav")) if bg.is_dir() else []


def engine_of(name: str) -> str | None:
    """The speech engine in a clip's relative path (None for silence and real speakers)."""
    m = _ENGINE.match(name)
    return m.group(1) if m else None
