"""Mix real recordings into a generated tree: `synth.source: mix`.

The real Speech Commands v0.02 (unpacked by `python -m ml.download`) keeps its own split
lists and speakers (8 hex digits, no engine prefix, so they cannot clash with the
generated `<engine>-<hash>` speakers); its `_background_noise_` recordings are added as
`real_<name>.wav` beside the generated ones. Files are hard-linked when the two trees share
a file system, else copied.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ml.dataset import BACKGROUND_DIR, LIST_FILES, read_list, wav_files
from ml.synth.common import SynthError


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def mix_real(tree: Path, real: Path) -> int:
    """Add every real clip, background and list entry of `real` to `tree`; return the
    number of clips added."""
    if not (real / LIST_FILES["testing"]).is_file():
        raise SynthError(
            f"{real}: no real Speech Commands here (`make data` with synth.source: mix fetches it)"
        )
    rels = wav_files(real)
    for rel in rels:
        if (tree / rel).exists():
            raise SynthError(f"{real / rel}: clashes with a generated clip")
        _link(real / rel, tree / rel)
    for bg in sorted((real / BACKGROUND_DIR).glob("*.wav")):
        _link(bg, tree / BACKGROUND_DIR / f"real_{bg.name}")
    for split, name in LIST_FILES.items():
        merged = sorted({*read_list(tree, split), *read_list(real, split)})
        (tree / name).write_text("".join(f"{r}\n" for r in merged))
    return len(rels)
