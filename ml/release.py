"""Releases: bundle the model of a tag, put it on staging then production boards, roll back.

    python -m ml.release collect --generated G --vectors V --params P --metrics M [--out DIR]
    python -m ml.release build   --tag v0.1.0 [--model build/ci/model] [--out build/release]
    python -m ml.release deploy  --tag v0.1.0 --stage staging|production [--download DIR]
    python -m ml.release publish --tag v0.1.0 [--download DIR]
    python -m ml.release rollback --tag v0.1.0
    python -m ml.release local   --tag v0.1.0       # the whole flow on virtual boards

`build` refuses the release when the rebuilt model's sha256 differs from the MLflow version
carrying `candidate` (whose git sha must be the tagged commit or one of its ancestors), or a
quality gate failed. The bundle `build/release/<tag>/` holds the .tflite, its settings, the
model card, the golden vectors, the params with the HIL gates, `release.json` and
`SHA256SUMS`; `deploy`/`publish` add the board images built by the workflow. `deploy`
flashes every board of a stage (ports from `HIL_PORT_<BOARD>`), checks that its `id` reports
the released sha256 (else fails naming the board), runs acceptance (staging) or smoke
(production), then moves the stage's MLflow alias. `publish` creates the GitHub Release (on
GitHub) or copies the bundle to `$KWS_RELEASES_DIR` (default build/releases/<tag>), where
`rollback` finds it when not on GitHub.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from hil.boards import board_names
from ml.errors import KwsError, run_main
from ml.fsutil import write_json_atomic
from ml.redact import redact_uri

log = logging.getLogger("ml.release")
TAG_RE = re.compile(r"^v\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
SUMS = "SHA256SUMS"
STAGES = {"staging": "acceptance", "production": "smoke"}
MODEL_DIR = Path("build/ci/model")
RELEASE_DIR = Path("build/release")
VBOARDS = Path(os.environ.get("KWS_VBOARDS_DIR") or "build/vboards")


class ReleaseError(KwsError):
    """The release is refused, or a board, bundle or registry step failed."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_tag(tag: str) -> str:
    if not TAG_RE.match(tag or ""):
        raise ReleaseError(f"TAG '{tag}': not a release tag like v1.2.3")
    return tag


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)}: {done.stderr.strip() or 'failed'}")
    return done.stdout.strip()


# -- collect: the pipeline's outputs in one folder the jobs pass around


def collect(generated: Path, vectors: Path, params: Path, metrics: Path, out: Path) -> None:
    for need in (generated / "model_settings.json", vectors / "manifest.json", params):
        if not need.is_file():
            raise ReleaseError(f"{need}: missing (run the pipeline: make ci-pipeline)")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(generated, tmp / "generated")
    shutil.copytree(vectors, tmp / "vectors")
    shutil.copyfile(params, tmp / "params.yaml")
    if metrics.is_dir():
        shutil.copytree(metrics, tmp / "metrics")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"collect: model artefacts in {out}")


def model_files(model_dir: Path) -> tuple[dict[str, Any], Path]:
    settings_path = model_dir / "generated/model_settings.json"
    try:
        settings = json.loads(settings_path.read_text())
        name = settings["model"].get("file", "model_int8.tflite")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise ReleaseError(f"{settings_path}: missing or without model.file") from None
    tflite = model_dir / "generated" / name
    if not tflite.is_file():
        raise ReleaseError(f"{tflite}: missing (the export puts the .tflite beside its settings)")
    return settings, tflite


# -- gates


def gate_results(metrics: dict[str, Any]) -> dict[str, bool]:
    """{gate: passed}: evaluate.json's `gates` when present, and every board's budget fit."""
    out: dict[str, bool] = {}
    gates = metrics.get("gates")
    if isinstance(gates, dict):
        for name, g in gates.items():
            if isinstance(g, dict) and "passed" in g:
                out[name] = bool(g["passed"])
            elif isinstance(g, bool):
                out[name] = g
    for board in board_names():
        b = metrics.get(board)
        if isinstance(b, dict) and "fits" in b:
            out.setdefault(f"budget.{board}", bool(b["fits"]))
    return out


def read_metrics(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "metrics/evaluate.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        raise ReleaseError(f"{path}: missing or not JSON (run the evaluate stage)") from None
    if not isinstance(data, dict):
        raise ReleaseError(f"{path}: not a JSON object")
    return data


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


# -- SHA256SUMS


def write_sums(bundle: Path) -> None:
    files = sorted(p.name for p in bundle.iterdir() if p.is_file() and p.name != SUMS)
    text = "".join(f"{sha256_file(bundle / n)}  {n}\n" for n in files)
    (bundle / SUMS).write_text(text)


def verify_sums(bundle: Path) -> dict[str, Any]:
    sums = bundle / SUMS
    try:
        lines = sums.read_text().splitlines()
    except OSError:
        raise ReleaseError(f"{sums}: missing") from None
    listed = set()
    for i, line in enumerate(lines, 1):
        digest, _, name = line.partition("  ")
        if not name or "/" in name or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ReleaseError(f"{sums}: line {i} is not '<sha256>  <file>'")
        path = bundle / name
        if not path.is_file():
            raise ReleaseError(f"{sums}: {name} is missing from {bundle}")
        if sha256_file(path) != digest:
            raise ReleaseError(f"{sums}: {name} does not match its sha256")
        listed.add(name)
    extra = {p.name for p in bundle.iterdir() if p.is_file()} - listed - {SUMS}
    if extra:
        raise ReleaseError(f"{sums}: does not list {', '.join(sorted(extra))}")
    try:
        info = json.loads((bundle / "release.json").read_text())
    except (OSError, ValueError):
        raise ReleaseError(f"{bundle}/release.json: missing or not JSON") from None
    if sha256_file(bundle / info["model_file"]) != info["model_sha256"]:
        raise ReleaseError(f"{bundle}: {info['model_file']} is not the released model")
    return info


def assemble(tag: str, download: Path, out_root: Path) -> Path:
    """The bundle from the workflow's artifacts (release-bundle + firmware-<board>)."""
    bundle = out_root / tag
    src = download / "release-bundle" / tag
    if src.is_dir():
        shutil.rmtree(bundle, ignore_errors=True)
        shutil.copytree(src, bundle)
    if not bundle.is_dir():
        raise ReleaseError(f"{src}: release bundle missing (artifact release-bundle)")
    verify_sums(bundle)
    added = []
    for board in board_names():
        fw = download / f"firmware-{board}"
        if fw.is_dir() and any(fw.iterdir()):
            name = f"firmware-{board}.tar.gz"
            with tarfile.open(bundle / name, "w:gz") as tar:
                tar.add(fw, arcname=board)
            added.append(name)
    if added:
        write_sums(bundle)
    return bundle


# -- deploy


def port_var(board: str, stage: str | None = None) -> str:
    return f"HIL_PORT_{stage.upper()}_{board.upper()}" if stage else f"HIL_PORT_{board.upper()}"


def board_port(board: str, stage: str) -> str:
    """The runner's port for a board of `stage`: HIL_PORT_<STAGE>_<BOARD>, else HIL_PORT_<BOARD>."""
    return os.environ.get(port_var(board, stage)) or os.environ.get(port_var(board)) or ""


def unpack(bundle: Path, work: Path) -> dict[str, Path]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with tarfile.open(bundle / "hil-vectors.tar.gz") as tar:
        tar.extractall(work, filter="data")
    gen = work / "generated"
    gen.mkdir()
    info = json.loads((bundle / "release.json").read_text())
    shutil.copyfile(bundle / "model_settings.json", gen / "model_settings.json")
    shutil.copyfile(bundle / info["model_file"], gen / info["model_file"])
    images = work / "images"
    for board in board_names():
        fw = bundle / f"firmware-{board}.tar.gz"
        if fw.is_file():
            with tarfile.open(fw) as tar:
                tar.extractall(images, filter="data")
    return {"settings": gen / "model_settings.json", "vectors": work / "vectors", "images": images}


def board_image(board: str, images: Path) -> Path | None:
    d = images / board
    if not d.is_dir():
        return None
    bins = sorted(d.glob("*.bin"))
    # ESP-IDF: the build folder (flasher_args.json); Nano: the one .bin arduino-cli made
    return d if (d / "flasher_args.json").is_file() or len(bins) != 1 else bins[0]


def deploy(bundle: Path, stage: str, results: Path) -> None:
    from hil import deploy as hd

    info = verify_sums(bundle)
    files = unpack(bundle, bundle.parent / f".deploy-{stage}")
    suite = STAGES[stage]
    ports = {b: board_port(b, stage) for b in info["boards"]}
    missing = [port_var(b, stage) for b, p in ports.items() if not p]
    if missing:
        raise ReleaseError(f"{stage}: runner has no port for {', '.join(missing)}")
    for board, port in ports.items():
        hd.flash(board, port, files["settings"], board_image(board, files["images"]))
        hd.check_id(board, port, info["model_sha256"])
        rc = hd.suite(
            board,
            port,
            suite,
            settings=files["settings"],
            vectors=files["vectors"],
            params=bundle / "params.yaml",
            results=results,
        )
        if rc != 0:
            raise ReleaseError(f"{stage}: board {board} on {port}: {suite} suite failed")
        hd.check_id(board, port, info["model_sha256"])
    from ml import registry

    registry.move_alias(stage, int(info["mlflow"]["version"]), info["model_sha256"])
    line = (
        f"{stage}: {info['tag']} on {', '.join(ports)} ({suite} passed); MLflow alias "
        f"{stage} -> version {info['mlflow']['version']} (model {info['model_sha256'][:12]})"
    )
    print(line)
    summary(f"### {stage}\n\n{line}\n")


def summary(markdown: str) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a") as f:
            f.write(markdown + "\n")


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


@contextmanager
def virtual_ports(stage: str, boards: list[str]) -> Iterator[None]:
    """HIL_PORT_<STAGE>_<BOARD> of the virtual boards, for the time of a deploy."""
    from hil.virtual.slot import PORT_LINK

    names = {port_var(b, stage): str(VBOARDS / f"{stage}-{b}" / PORT_LINK) for b in boards}
    old = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def start_boards(stage: str, stack: ExitStack) -> list[str]:
    """Power one virtual board per type for `stage` (slots under build/vboards/)."""
    from hil.virtual.slot import powered

    boards = board_names()
    for b in boards:
        stack.enter_context(powered(VBOARDS / f"{stage}-{b}", b))
    return boards


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
