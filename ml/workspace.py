"""A copy of the DVC pipeline in another directory: dvc.yaml and the sources its stages run.

`ml.tiny` runs the pipeline there with tiny params; the DVC tests run it in throw-away
copies. What to copy is read from dvc.yaml (the stages' deps), so a dependency added there
(as hil/boards.py was) is in every copy.
"""

from __future__ import annotations

import logging
import shlex
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from ml.errors import KwsError

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
PACKAGE = "ml"  # the stages' package: copied whole (a stage imports more than its deps list)


def _outs(spec: dict[str, Any]) -> set[str]:
    """Every path a stage writes (outs, metrics, plots)."""
    return {
        next(iter(o)) if isinstance(o, dict) else o
        for stage in spec.values()
        for kind in ("outs", "metrics", "plots")
        for o in stage.get(kind, [])
    }


def stage_sources(dvc_yaml: Path, stages: Iterable[str], root: Path = REPO) -> list[str]:
    """The source files outside ml/ that `stages` depend on (not data, not another stage's
    output), each with its package's __init__.py so `hil.boards` still imports."""
    spec = yaml.safe_load(dvc_yaml.read_text())["stages"]
    deps = {d for name in stages for d in spec[name].get("deps", [])}
    files = sorted(
        d for d in deps - _outs(spec) if (root / d).is_file() and not d.startswith(f"{PACKAGE}/")
    )
    for d in list(files):
        init = str(Path(d).with_name("__init__.py"))
        if init not in files and (root / init).is_file():
            files.append(init)
    return sorted(files)


def _sync_file(src: Path, dst: Path) -> bool:
    """Copy src to dst unless dst already has its bytes (so DVC's hash cache stays valid)."""
    if dst.is_file() and dst.read_bytes() == src.read_bytes():
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
    return True


def copy_pipeline(dst: Path, stages: Iterable[str] | None = None, root: Path = REPO) -> list[str]:
    """Put dvc.yaml, the ml package and the other sources of `stages` (all) under `dst`.

    Files already equal are left alone; modules gone from ml/ are removed from the copy.
    Returns the paths (relative) that were written.
    """
    dvc_yaml = root / "dvc.yaml"
    if stages is None:
        stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    rels = ["dvc.yaml", *stage_sources(dvc_yaml, stages, root)]
    package = sorted(
        p.relative_to(root).as_posix()
        for p in (root / PACKAGE).rglob("*.py")
        if "__pycache__" not in p.parts
    )
    written = [rel for rel in [*rels, *package] if _sync_file(root / rel, dst / rel)]
    keep = set(package)
    for stale in (dst / PACKAGE).rglob("*.py"):
        if stale.relative_to(dst).as_posix() not in keep:
            stale.unlink()
            written.append(stale.relative_to(dst).as_posix())
    if written:
        log.info("%s: %d pipeline source(s) updated", dst, len(written))
    return written


def stage_arg(dvc_yaml: Path, stage: str, flag: str) -> str:
    """The value of `flag` in a stage's command (the path dvc.yaml passes it)."""
    cmd = shlex.split(yaml.safe_load(dvc_yaml.read_text())["stages"][stage]["cmd"])
    try:
        return cmd[cmd.index(flag) + 1]
    except (ValueError, IndexError):
        raise KwsError(f"{dvc_yaml}: stage {stage} passes no {flag}") from None
