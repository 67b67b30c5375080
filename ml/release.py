"""Releases: bundle the model of a tag, put it on staging then production boards, roll back.

    python -m ml.release collect --generated G --vectors V --params P --metrics M [--out DIR]
    python -m ml.release build   --tag v0.1.0 [--model build/ci/model] [--out build/release]
    python -m ml.release deploy  --tag v0.1.0 --stage staging|production [--download DIR]
    python -m ml.release publish --tag v0.1.0 [--download DIR]
    python -m ml.release rollback --tag v0.1.0
    python -m ml.release local   --tag v0.1.0       # the whole flow on virtual boards

`build` refuses the release when the rebuilt model's sha256 differs from the MLflow version
carrying `candidate` (whose git sha must be the tagged commit or one of its ancestors), or a
quality gate failed. The bundle `build/release/<tag>/` (ml/bundle.py) holds the .tflite, its
settings, the model card, the golden vectors, the params with the HIL gates, `release.json`
and `SHA256SUMS`; `deploy`/`publish` add the board images built by the workflow. `deploy`
(ml/rollout.py) flashes every board of a stage, checks that its `id` reports the released
sha256, runs acceptance (staging) or smoke (production), then moves the stage's MLflow
alias. `publish` creates the GitHub Release (on GitHub) or copies the bundle to
`$KWS_RELEASES_DIR` (default build/releases/<tag>), where `rollback` finds it when not on
GitHub.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import tarfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from hil.boards import board_names
from ml.bundle import (
    ReleaseError,
    assemble,
    collect,
    gate_results,
    model_files,
    read_metrics,
    sha256_file,
    verify_sums,
    write_sums,
)
from ml.errors import KwsError, run_main
from ml.fsutil import write_json_atomic
from ml.redact import redact_uri
from ml.rollout import STAGES, board_port, deploy, start_boards, summary, virtual_ports

log = logging.getLogger("ml.release")
TAG_RE = re.compile(r"^v\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
MODEL_DIR = Path("build/ci/model")
RELEASE_DIR = Path("build/release")


def check_tag(tag: str) -> str:
    if not TAG_RE.match(tag or ""):
        raise ReleaseError(f"TAG '{tag}': not a release tag like v1.2.3")
    return tag


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)}: {done.stderr.strip() or 'failed'}")
    return done.stdout.strip()


# -- gates


# -- build


def candidate_for(sha: str, commit: str) -> dict[str, Any]:
    from ml import registry

    cand = registry.version_by_alias("candidate")
    if cand is None:
        raise ReleaseError(
            f"MLflow {redact_uri(registry.tracking_uri())}: no version of "
            f"'{registry.MODEL_NAME}' has alias 'candidate' (run the pipeline's register stage)"
        )
    tags = cand["tags"]
    if tags.get("model_sha256") != sha:
        raise ReleaseError(
            f"refused: rebuilt model sha256 {sha[:12]} differs from MLflow "
            f"'candidate' (version {cand['version']}, {tags.get('model_sha256', '-')[:12]})"
        )
    git_sha = tags.get("git_sha", "")
    if git_sha != commit:
        ok = (
            subprocess.run(
                ["git", "merge-base", "--is-ancestor", git_sha, commit],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        )
        if not ok:
            raise ReleaseError(
                f"refused: MLflow 'candidate' (version {cand['version']}) comes from git "
                f"{git_sha[:8] or '-'}, not from {commit[:8]} or its history"
            )
    return cand


def build(tag: str, model_dir: Path, out_root: Path) -> Path:
    check_tag(tag)
    commit = git("rev-parse", "HEAD")
    tagged = subprocess.run(
        ["git", "rev-parse", "-q", "--verify", f"refs/tags/{tag}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if tagged and tagged != commit:
        raise ReleaseError(f"TAG {tag} is commit {tagged[:8]}, but HEAD is {commit[:8]}")
    settings, tflite = model_files(model_dir)
    sha = sha256_file(tflite)
    if settings["model"].get("sha256") != sha:
        raise ReleaseError(f"{tflite}: sha256 differs from its model_settings.json")
    failed = sorted(k for k, ok in gate_results(read_metrics(model_dir)).items() if not ok)
    if failed:
        raise ReleaseError(f"refused: quality gates failed: {', '.join(failed)}")
    cand = candidate_for(sha, commit)
    out = out_root / tag
    tmp = out_root / f".{tag}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copyfile(tflite, tmp / tflite.name)
    shutil.copyfile(model_dir / "generated/model_settings.json", tmp / "model_settings.json")
    shutil.copyfile(model_dir / "params.yaml", tmp / "params.yaml")
    with tarfile.open(tmp / "hil-vectors.tar.gz", "w:gz") as tar:
        tar.add(model_dir / "vectors", arcname="vectors")
    from ml import registry

    try:
        registry.download_model_card(cand["run_id"], tmp / "model_card.md")
    except KwsError as exc:
        raise ReleaseError(f"model card of run {cand['run_id']}: {exc}") from None
    write_json_atomic(
        tmp / "release.json",
        {
            "tag": tag,
            "commit": commit,
            "model_sha256": sha,
            "model_file": tflite.name,
            "mlflow": {"version": cand["version"], "run_id": cand["run_id"]},
            "boards": board_names(),
        },
    )
    write_sums(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"release {tag}: model {sha} = MLflow candidate version {cand['version']}; bundle {out}")
    return out


# -- publish and rollback


def on_github() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true" and not os.environ.get("ACT")


def releases_dir() -> Path:
    return Path(os.environ.get("KWS_RELEASES_DIR") or "build/releases")


def publish(bundle: Path) -> None:
    info = verify_sums(bundle)
    tag = info["tag"]
    if on_github():
        files = sorted(str(p) for p in bundle.iterdir() if p.is_file())
        notes = (
            f"Model sha256 `{info['model_sha256']}`, MLflow version {info['mlflow']['version']}."
        )
        cmd = ["gh", "release", "create", tag, *files, "--verify-tag", "--title", tag]
        done = subprocess.run([*cmd, "--notes", notes], check=False)
        if done.returncode != 0:
            raise ReleaseError(f"gh release create {tag}: failed (exit {done.returncode})")
        print(f"publish: GitHub Release {tag} with {len(files)} assets")
        return
    dest = releases_dir() / tag
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(bundle, dest)
    verify_sums(dest)
    print(f"publish: release {tag} in {dest} (SHA256SUMS verified)")
    summary(f"### release {tag}\n\nbundle `{dest}`, model `{info['model_sha256']}`\n")


def fetch(tag: str) -> Path:
    if on_github():
        dest = Path("build/ci/rollback") / tag
        shutil.rmtree(dest, ignore_errors=True)
        cmd = ["gh", "release", "download", tag, "--dir", str(dest)]
        if subprocess.run(cmd, check=False).returncode != 0:
            raise ReleaseError(f"gh release download {tag}: failed")
        return dest
    dest = releases_dir() / tag
    if not dest.is_dir():
        raise ReleaseError(f"release {tag}: not found in {releases_dir()}")
    return dest


def rollback(tag: str, results: Path) -> None:
    """Restore release `tag` on the production boards; without runner ports (a laptop), on
    the virtual production boards of `make release`."""
    check_tag(tag)
    bundle = fetch(tag)
    info = verify_sums(bundle)
    if on_github() or all(board_port(b, "production") for b in info["boards"]):
        deploy(bundle, "production", results)
        return
    with ExitStack() as stack:
        with virtual_ports("production", start_boards("production", stack)):
            deploy(bundle, "production", results)


# -- the whole flow on virtual boards


def local(tag: str, model_dir: Path, out_root: Path, results: Path) -> None:
    bundle = build(tag, model_dir, out_root)
    with ExitStack() as stack:
        for stage in STAGES:
            with virtual_ports(stage, start_boards(stage, stack)):
                deploy(bundle, stage, results / stage)
    publish(bundle)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.release", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    for name in ("generated", "vectors", "params", "metrics"):
        c.add_argument(f"--{name}", type=Path, required=True)
    c.add_argument("--out", type=Path, default=MODEL_DIR)
    for name in ("build", "deploy", "publish", "rollback", "local"):
        p = sub.add_parser(name)
        p.add_argument("--tag", required=True)
        p.add_argument("--model", type=Path, default=MODEL_DIR)
        p.add_argument("--out", type=Path, default=RELEASE_DIR)
        p.add_argument("--download", type=Path, help="the workflow's downloaded artifacts")
        p.add_argument("--results", type=Path, default=Path("hil/results/release"))
        if name == "deploy":
            p.add_argument("--stage", choices=sorted(STAGES), required=True)
    args = ap.parse_args(argv)
    if args.cmd == "collect":
        collect(args.generated, args.vectors, args.params, args.metrics, args.out)
        return 0
    tag = check_tag(args.tag)
    if args.cmd == "build":
        build(tag, args.model, args.out)
    elif args.cmd in ("deploy", "publish"):
        bundle = assemble(tag, args.download, args.out) if args.download else args.out / tag
        if args.cmd == "deploy":
            deploy(bundle, args.stage, args.results)
        else:
            publish(bundle)
    elif args.cmd == "rollback":
        rollback(tag, args.results)
    else:
        local(tag, args.model, args.out, args.results)
    return 0


if __name__ == "__main__":
    run_main(main)
