"""The repository's seed: the default model's pipeline outputs, a read-only DVC remote in git.

A DVC remote belongs to a machine or a team, so a fresh clone elsewhere starts with an empty
one and `make demo` would retrain the default model (about 35 min on 2 cores). `seed/` holds
what `dvc.lock` records for every stage after the features (the model, its int8 file, the
firmware's generated sources, the golden vectors, the plots): about 2 MB, the way the TFLM
examples ship their trained models. The dataset regenerates byte for byte (`make
data-verified`) and the features (43 MB) from it in under a minute, so they stay out of git.

`make pull` takes from here what the default remote lacks; `make repro` refreshes it; a test
fails when `dvc.lock` names an output that is missing here (`make seed` mends it).

    python -m ml.seed stages   # the stages whose outputs the seed holds, for make
    python -m ml.seed check    # exit 1 with one line per missing output
    python -m ml.seed prune    # delete the objects of earlier models (after a push)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

REMOTE = "seed"  # .dvc/config: ['remote "seed"'] url = ../seed
SEED_DIR = "seed"
# Upstream of the model: the features (43 MB) rebuild from the dataset in under a minute, and
# validate's report is in git.
SKIP_STAGES = frozenset({"validate", "features"})


def stages(dvc_yaml: Path) -> list[str]:
    """The pipeline's stages after the features, in dvc.yaml's order."""
    spec = yaml.safe_load(dvc_yaml.read_text()) or {}
    return [name for name in spec.get("stages", {}) if name not in SKIP_STAGES]


def missing(repo: Path) -> list[str]:
    """dvc.lock's cached outputs of the seed's stages that the seed remote lacks."""
    from dvc.repo import Repo  # slow import: only for the check

    # DVC resolves stage targets against the working directory, not the repo's root
    with contextlib.chdir(repo), Repo(".") as dvc:
        status = dvc.status(targets=stages(repo / "dvc.yaml"), cloud=True, remote=REMOTE)
    # "new": in the local cache only; "missing": nowhere. "deleted" is in the seed, not here.
    return sorted(path for path, state in status.items() if state in ("new", "missing"))


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.seed", description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=("stages", "check", "prune"))
    ap.add_argument("--repo", type=Path, default=Path("."))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "stages":
        print(" ".join(stages(args.repo / "dvc.yaml")))
        return 0
    if args.command == "prune":
        deleted = prune(args.repo, args.repo / SEED_DIR)
        log.info("seed: %d object(s) of earlier models deleted", deleted)
        return 0
    from dvc.exceptions import DvcException

    try:
        gaps = missing(args.repo)
    except DvcException as exc:  # not a DVC repo, an unreadable dvc.lock: one line, not a trace
        print(f"error: seed: {args.repo}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    for path in gaps:
        print(f"error: seed/: lacks dvc.lock's {path} (make seed refreshes it)", file=sys.stderr)
    if not gaps:
        names = " ".join(stages(args.repo / "dvc.yaml"))
        log.info("seed: holds every output dvc.lock records for %s", names)
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main())
