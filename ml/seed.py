"""The repository's seed: the default model's pipeline outputs, a read-only DVC remote in git.

A DVC remote belongs to a machine or a team, so a fresh clone elsewhere starts with an empty
one and `make demo` would retrain the default model (about 35 min on 2 cores). `seed/` holds
what `dvc.lock` records for every stage after the features (the model, its int8 file, the
firmware's generated sources, the golden vectors, the plots): about 2 MB, the way the TFLM
examples ship their trained models. The dataset regenerates byte for byte (`make
data-verified`) and the features (43 MB) from it in under a minute, so they stay out of git.

`make pull` takes from here what the default remote lacks; `make repro` refreshes it; a test
fails when `dvc.lock` names an output that is missing here (`make seed` mends it).

    python -m ml.seed refresh  # make seed: push dvc.lock's outputs, check, prune, say the size
    python -m ml.seed pull     # make pull's fallback: what the seed holds; exit 1 if not all
    python -m ml.seed check    # exit 1 with one line per missing output
    python -m ml.seed stages   # the stages whose outputs the seed holds
    python -m ml.seed prune    # delete the objects of earlier models (after a push)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

REMOTE = "seed"  # .dvc/config: ['remote "seed"'] url = ../seed (its folder: seed_dir)
# Upstream of the model: the features (43 MB) rebuild from the dataset in under a minute, and
# validate's report is in git.
SKIP_STAGES = frozenset({"validate", "features"})


def stages(dvc_yaml: Path) -> list[str]:
    """The pipeline's stages after the features, in dvc.yaml's order."""
    spec = yaml.safe_load(dvc_yaml.read_text()) or {}
    return [name for name in spec.get("stages", {}) if name not in SKIP_STAGES]


@contextlib.contextmanager
def _dvc(repo: Path) -> Iterator[Any]:
    from dvc.repo import Repo  # slow import: only for the commands that talk to DVC

    # DVC resolves stage targets against the working directory, not the repo's root
    with contextlib.chdir(repo), Repo(".") as dvc:
        yield dvc


def _missing(dvc: Any, targets: list[str]) -> list[str]:
    status = dvc.status(targets=targets, cloud=True, remote=REMOTE)
    # "new": in the local cache only; "missing": nowhere. "deleted" is in the seed, not here.
    return sorted(path for path, state in status.items() if state in ("new", "missing"))


def missing(repo: Path) -> list[str]:
    """dvc.lock's cached outputs of the seed's stages that the seed remote lacks."""
    with _dvc(repo) as dvc:
        return _missing(dvc, stages(repo / "dvc.yaml"))


def seed_dir(dvc: Any) -> Path:
    """The seed remote's folder, as .dvc/config names it (DVC resolves the relative URL)."""
    return Path(dvc.config["remote"][REMOTE]["url"])


def refresh(repo: Path) -> tuple[list[str], int, Path]:
    """Push the seed's stages' outputs from the local cache to the seed, then delete the
    objects of earlier models: (outputs still missing, objects deleted, the seed's folder)."""
    targets = stages(repo / "dvc.yaml")
    with _dvc(repo) as dvc:
        dvc.push(targets=targets, remote=REMOTE)
        gaps = _missing(dvc, targets)
        root = seed_dir(dvc)
    return gaps, (0 if gaps else prune(repo, root)), root


def pull(repo: Path) -> list[str]:
    """Fetch what the seed holds of the seed's stages' outputs; return the outputs it lacks."""
    from dvc.exceptions import DvcException

    targets = stages(repo / "dvc.yaml")
    with _dvc(repo) as dvc:
        with contextlib.suppress(DvcException):  # some outputs absent: the check says which
            dvc.pull(targets=targets, remote=REMOTE, allow_missing=True)
        return _missing(dvc, targets)


def _object(root: Path, md5: str) -> Path:
    """Where a DVC 3 remote keeps an object: files/md5/<2 hex>/<rest>."""
    return root / "files" / "md5" / md5[:2] / md5[2:]


def keep(repo: Path, root: Path) -> set[Path]:
    """The seed's objects that dvc.lock's outputs of the seed's stages name."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text()) or {}
    wanted = set(stages(repo / "dvc.yaml"))
    objects: set[Path] = set()
    for name, stage in lock.get("stages", {}).items():
        if name not in wanted:
            continue
        for out in stage.get("outs", []):
            md5 = out.get("md5")
            if not md5:
                continue
            obj = _object(root, md5)
            objects.add(obj)
            if md5.endswith(".dir") and obj.is_file():  # a directory: its manifest's files too
                objects.update(_object(root, entry["md5"]) for entry in json.loads(obj.read_text()))
    return objects


def prune(repo: Path, root: Path) -> int:
    """Delete the seed's objects no output of dvc.lock names; return how many."""
    wanted = keep(repo, root)
    stale = [f for f in (root / "files").rglob("*") if f.is_file() and f not in wanted]
    for f in stale:
        f.unlink()
    for d in sorted((root / "files").rglob("*"), reverse=True):  # empty fan-out folders
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    return len(stale)


def _size(root: Path) -> str:
    total = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    return f"{total / 2**20:.1f} MB"


def _run(command: str, repo: Path) -> int:
    if command == "stages":
        print(" ".join(stages(repo / "dvc.yaml")))
        return 0
    if command == "pull":
        return 1 if pull(repo) else 0  # make pull says which remote the model came from
    if command == "refresh":
        gaps, deleted, root = refresh(repo)
    elif command == "prune":
        with _dvc(repo) as dvc:
            root = seed_dir(dvc)
        log.info("seed: %d object(s) of earlier models deleted", prune(repo, root))
        return 0
    else:
        gaps = missing(repo)
    for path in gaps:
        print(f"error: seed/: lacks dvc.lock's {path} (make seed refreshes it)", file=sys.stderr)
    if gaps:
        return 1
    log.info(
        "seed: holds every output dvc.lock records for %s", " ".join(stages(repo / "dvc.yaml"))
    )
    if command == "refresh":
        log.info("seed: %d object(s) of earlier models deleted", deleted)
        log.info(
            "seed: %s/ holds dvc.lock's model outputs (%s); commit it with dvc.lock (git add %s)",
            root.name,
            _size(root),
            root.name,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.seed", description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=("refresh", "pull", "check", "stages", "prune"))
    ap.add_argument("--repo", type=Path, default=Path("."))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from dvc.exceptions import DvcException

    try:
        return _run(args.command, args.repo)
    except DvcException as exc:  # not a DVC repo, an unreadable dvc.lock: one line, not a trace
        print(f"error: seed: {args.repo}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
