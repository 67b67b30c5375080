"""`make ci-local`: run the real workflow files under act, offline, for the events users cause.

    python tools/ci_local.py [all | push pr fork tag rollback ...] [--dry-run]

Scenarios (event files in .github/act-events/):
- push:     a push to main (ci.yml): hosted jobs + HIL on the hil-esp32/hil-nano33ble runners;
- pr:       a pull request from a branch with the `hil` label: the same + the PR report;
- fork:     a pull request from a fork with the `hil` label: no self-hosted job may run;
- tag:      tag v0.1.0 (release.yml): rebuild + candidate check, staging, production, Release;
- rollback: workflow_dispatch release=v0.1.0 (rollback.yml) after production was erased;
- nightly:  the nightly schedule's fleet jobs (nightly.yml -j drift-alarm, with what it
            needs): telemetry of the production boards and the drift check; no drift on
            freshly booted boards, so no drift alarm is sent;
- drift:    the same after the production boards heard only white noise: the drift check
            fails the telemetry job and the drift-alarm job runs (it sends nothing under act);
- retrain:  repository_dispatch drift-alarm (retrain.yml): `make retrain` with this machine's
            DVC remote; the pull-request job (gh, a push) is skipped under act.

act maps every runner label to this machine. The pinned actions come from act-actions.tgz
(extracted into build/ci-local/actions), Python from a tool cache whose 3.11 is this work
tree's .venv (so `make setup` in a job finds everything installed), `vars.ACT_LOCAL=1`
skips the jobs that need Docker or downloads, `vars.KWS_PROFILE=tiny` the tiny pipeline.
The harness powers virtual boards (hil/virtual/slot.py) and hands their ports to the jobs as
the runners' HIL_PORT_* variables; the MLflow registry is a sqlite file in the state folder.
Each scenario prints the jobs that ran, those skipped and why, and checks them against what
the event must run. Exit 1 when a job failed or the list is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / "build/ci-local"


def first_file(*candidates: Path) -> Path | None:
    return next((p.resolve() for p in candidates if p.is_file()), None)


def shared(rel: str) -> tuple[Path, Path]:
    """<rel> in ../shared beside the checkout (a worktree one level deeper: ../../shared)."""
    return ROOT / "../shared" / rel, ROOT / "../../shared" / rel


# the offline action copies: $KWS_ACT_ARCHIVE, else ../shared/act
ACT_ARCHIVE = first_file(
    Path(os.environ.get("KWS_ACT_ARCHIVE", "/nonexistent")), *shared("act/act-actions.tgz")
) or (ROOT / "../shared/act/act-actions.tgz")
# TFLM's pinned sources for the firmware jobs: act runs them in a copy of the work tree under
# build/ci-local, where firmware/tflm/third_party.sh cannot find ../shared/third_party by
# itself (on GitHub the jobs fetch the pinned commits instead).
_TFLM_ARCHIVE = first_file(
    Path(os.environ.get("KWS_THIRD_PARTY", "/nonexistent")) / "tflite-micro.tar.gz",
    *shared("third_party/tflite-micro.tar.gz"),
)
THIRD_PARTY = _TFLM_ARCHIVE.parent if _TFLM_ARCHIVE else None
EVENTS = ROOT / ".github/act-events"
WORKFLOWS = ROOT / ".github/workflows"
PINNED = {
    "actions/setup-python": "a26af69be951a213d495a4c3e4e4022e16d87065",
    "actions/upload-artifact": "ea165f8d65b6e75b540449e92b4886f43607fa02",
    "actions/download-artifact": "d3f86a106a0bac45b974a628896c90dbdf5c8093",
    "actions/cache": "0057852bfaa89a56745cba8c7296529d2fc39830",
}
BOARDS = ("esp32", "nano33ble")
TAG = "v0.1.0"


@dataclass
class Scenario:
    name: str
    workflow: str
    event_name: str
    event_file: str
    must_run: set[str]
    must_skip: set[str]
    inputs: dict[str, str] = field(default_factory=dict)
    jobs: list[str] = field(default_factory=list)  # act -j, one run each (with its needs)
    must_fail: set[str] = field(default_factory=set)  # jobs whose failure is the point
    noise_clips: int = 0  # white-noise clips fed to each board before act: a shifted fleet


SCENARIOS = {
    "push": Scenario(
        "push to main", "ci.yml", "push", "push-main.json",
        {"lint", "pytest", "pipeline", "firmware", "hil-virtual", "hil-esp32", "hil-nano33ble"},
        {"report", "esp32", "nano33ble"},
    ),
    "pr": Scenario(
        "PR from a branch, label hil", "ci.yml", "pull_request", "pr-branch-hil.json",
        {"lint", "pytest", "pipeline", "firmware", "hil-virtual", "report", "hil-esp32",
         "hil-nano33ble"},
        {"esp32", "nano33ble"},
    ),
    "fork": Scenario(
        "PR from a fork, label hil", "ci.yml", "pull_request", "pr-fork-hil.json",
        {"pipeline", "hil-virtual", "report"},
        {"hil-esp32", "hil-nano33ble", "esp32", "nano33ble"},
    ),
    "tag": Scenario(
        f"tag {TAG}", "release.yml", "push", "tag-v0.1.0.json",
        {"build", "staging", "production", "publish"},
        {"esp32", "nano33ble"},
    ),
    "rollback": Scenario(
        f"rollback dispatch release={TAG}", "rollback.yml", "workflow_dispatch",
        "dispatch-rollback.json", {"rollback"}, set(), inputs={"release": TAG},
    ),
    "nightly": Scenario(
        "nightly schedule: fleet telemetry", "nightly.yml", "schedule", "schedule-nightly.json",
        {"telemetry"}, {"drift-alarm", "run", "report"}, jobs=["drift-alarm"],
    ),
    "drift": Scenario(
        "nightly schedule: a drifting fleet", "nightly.yml", "schedule", "schedule-nightly.json",
        {"telemetry", "drift-alarm"}, {"run", "report"}, jobs=["drift-alarm"],
        must_fail={"telemetry"}, noise_clips=60,
    ),
    "retrain": Scenario(
        "drift alarm: retrain", "retrain.yml", "repository_dispatch",
        "dispatch-drift-alarm.json", {"retrain"}, {"pull-request"},
    ),
}  # fmt: skip
# the virtual boards each scenario's self-hosted runners have
ROLES = {
    "push": ["hil"],
    "pr": ["hil"],
    "fork": ["hil"],
    "tag": ["staging", "production"],
    "rollback": ["production"],
    "nightly": ["production"],
    "drift": ["production"],
    "retrain": [],
}
# make test runs the fork PR's board jobs only (with what they need): the jobs make test
# runs itself (lint, pytest, firmware, virtual HIL) would double its time.
QUICK_FORK_JOBS = ["hil-esp32", "hil-nano33ble"]


def log(msg: str) -> None:
    print(f"ci-local: {msg}", flush=True)


class Failure(Exception):
    pass


# -- preparing the state folder


def extract_actions() -> Path:
    dest = STATE / "actions"
    stamp = dest / ".extracted"
    key = f"{ACT_ARCHIVE.stat().st_size}:{ACT_ARCHIVE.stat().st_mtime_ns}"
    if stamp.is_file() and stamp.read_text() == key:
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with tarfile.open(ACT_ARCHIVE) as tar:
        tar.extractall(dest, filter="data")
    stamp.write_text(key)
    return dest


def action_folder(actions: Path, name: str, sha: str) -> Path:
    short = name.split("/", 1)[1]
    hits = [p for p in actions.rglob(f"{short}@{sha}") if p.is_dir()]
    if not hits:
        raise Failure(f"{ACT_ARCHIVE}: no folder {short}@{sha}")
    return hits[0]


def tool_cache() -> Path:
    """setup-python's tool cache, whose 3.11 is this work tree's .venv (all deps installed)."""
    venv = ROOT / ".venv"
    version = subprocess.run(
        [str(venv / "bin/python"), "-c", "import platform; print(platform.python_version())"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    cache = STATE / "toolcache"
    x64 = cache / "Python" / version / "x64"
    if not x64.is_symlink():
        shutil.rmtree(cache, ignore_errors=True)
        x64.parent.mkdir(parents=True)
        x64.symlink_to(venv)
        (x64.parent / "x64.complete").touch()
    return cache


def make_overrides() -> str:
    """Make variables for the jobs (MAKEFLAGS): this work tree's .venv, marked installed (a
    stamp newer than any copied pyproject.toml), and its tiny DVC workspace (ml.tiny: DVC
    reruns only the stages whose sources or params differ from the job's)."""
    stamp = STATE / "venv-installed"
    stamp.touch()
    day = time.time() + 86400
    os.utime(stamp, (day, day))
    return f"VENV={ROOT / '.venv'} VENV_STAMP={stamp} TINY_DIR={ROOT / 'build/tiny'}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- virtual boards for the self-hosted runners


class Boards:
    """One powered virtual board per (role, board type); ports as the runners' variables."""

    def __init__(self, stack: ExitStack, roles: list[str]) -> None:
        sys.path.insert(0, str(ROOT))  # run as a script: the repository's packages
        from hil.virtual.slot import powered

        self.env: dict[str, str] = {}
        for role in roles:
            for board in BOARDS:
                port = stack.enter_context(
                    powered(STATE / "vboards" / f"{role}-{board}", board, cwd=ROOT)
                )
                var = f"HIL_PORT_{board.upper()}" if role == "hil" else (
                    f"HIL_PORT_{role.upper()}_{board.upper()}"
                )  # fmt: skip
                self.env[var] = port


def feed_noise(ports: list[str], clips: int) -> None:
    """`audio` with white noise, `clips` times per board (after a reset: counters from zero)."""
    import numpy as np

    from hil.client import Client

    rng = np.random.default_rng(7)
    for port in ports:
        client = Client(port, timeout_s=20.0, name="board")
        try:
            client.sync()
            client.reset()
            for _ in range(clips):
                client.audio((rng.standard_normal(16000) * 3000).astype(np.int16))
        finally:
            client.close()
    log(f"{clips} white-noise clips fed to each of {len(ports)} board(s)")


def board_id(role: str, board: str) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "hil.virtual.slot", "id", "--dir",
         str(STATE / "vboards" / f"{role}-{board}")],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise Failure(f"virtual {role} {board}: id failed: {out.stderr.strip()}")
    return dict(tok.split("=", 1) for tok in out.stdout.split() if "=" in tok)


# -- running act


def workflow_jobs(workflow: str) -> dict[str, dict[str, Any]]:
    """job id -> {if, self_hosted, skip_reason}, including the jobs of called workflows."""
    jobs: dict[str, dict[str, Any]] = {}
    data = yaml.safe_load((WORKFLOWS / workflow).read_text())
    for jid, job in data["jobs"].items():
        uses = job.get("uses", "")
        if uses.startswith("./.github/workflows/"):
            for cid, cjob in workflow_jobs(Path(uses).name).items():
                runs_on = cjob["runs_on"]
                jobs[jid if Path(uses).name == "hil.yml" else cid] = {
                    **cjob,
                    "if": " and ".join(x for x in (job.get("if"), cjob["if"]) if x),
                    "runs_on": runs_on,
                }
            continue
        runs_on = job.get("runs-on", [])
        jobs[jid] = {
            "if": str(job.get("if", "")).strip(),
            "runs_on": runs_on if isinstance(runs_on, list) else [runs_on],
            "skip_reason": (job.get("env") or {}).get("SKIP_UNDER_ACT", ""),
        }
    return jobs


def with_needs(workflow: str, jobs: list[str]) -> set[str]:
    """The jobs act -j runs: these and, transitively, the jobs they need."""
    spec = yaml.safe_load((WORKFLOWS / workflow).read_text())["jobs"]
    out: set[str] = set()
    todo = list(jobs)
    while todo:
        j = todo.pop()
        if j in out or j not in spec:
            continue
        out.add(j)
        needs = spec[j].get("needs", [])
        todo += [needs] if isinstance(needs, str) else list(needs)
    return out


def act_cmd(
    sc: Scenario, actions: Path, cache: Path, boards: Boards, *, dry: bool, job: str | None
) -> list[str]:
    act = ROOT / ".venv/bin/act"
    cmd = [
        str(act), sc.event_name, "-W", str(WORKFLOWS / sc.workflow),
        "-e", str(EVENTS / sc.event_file), "--json",
        "-P", "ubuntu-24.04=-self-hosted", "-P", "ubuntu-latest=-self-hosted",
        "-P", "self-hosted=-self-hosted",
        "--artifact-server-path", str(STATE / "artifacts"),
        "--artifact-server-port", str(free_port()),
        "--cache-server-path", str(STATE / "cache"),
        "--action-cache-path", str(STATE / "act-cache"),
        "--secret-file", "/dev/null", "--var-file", "/dev/null", "--env-file", "/dev/null",
        "--var", "ACT_LOCAL=1", "--var", "KWS_PROFILE=tiny",
        "--secret", f"MLFLOW_TRACKING_URI=sqlite:///{STATE / 'mlflow.db'}",
        "--env", f"AGENT_TOOLSDIRECTORY={cache}",
        "--env", f"RUNNER_TOOL_CACHE={cache}",
        "--env", f"KWS_RELEASES_DIR={STATE / 'releases'}",
        "--env", f"PIP_CACHE_DIR={STATE / 'pip-cache'}",
    ]  # fmt: skip
    for name, sha in PINNED.items():
        folder = action_folder(actions, name, sha)
        cmd += ["--local-repository", f"{name}@{sha}={folder}"]
        if name == "actions/cache":
            for sub in ("restore", "save"):
                cmd += ["--local-repository", f"{name}/{sub}@{sha}={folder}"]
    for k, v in boards.env.items():
        cmd += ["--env", f"{k}={v}"]
    cmd += ["--env", f"MAKEFLAGS={make_overrides()}"]
    if THIRD_PARTY is not None:
        cmd += ["--env", f"KWS_THIRD_PARTY={THIRD_PARTY}"]
    for k, v in sc.inputs.items():
        cmd += ["--input", f"{k}={v}"]
    if job:
        cmd += ["-j", job]
    if dry:
        cmd.append("-n")
    return cmd


def run_act(cmd: list[str], logfile: Path) -> dict[str, str]:
    """Run act; return {job id: result} from its JSON log (all output kept in logfile)."""
    shutil.rmtree(STATE / "artifacts", ignore_errors=True)  # act reuses run id 1
    (STATE / "pip-cache").mkdir(parents=True, exist_ok=True)
    results: dict[str, str] = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "MAKE"))}
    env.pop("MFLAGS", None)
    with open(logfile, "w") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert proc.stdout is not None
        for raw in proc.stdout:
            out.write(raw)
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            jid = rec.get("jobID") or ""
            parts = str(rec.get("job", "")).split("/")
            if len(parts) >= 3 and jid == "hil":
                jid = parts[0]  # "hil-esp32/hil/hil (esp32)": hil.yml called by job hil-esp32
            msg = str(rec.get("msg", "")).rstrip()
            if rec.get("jobResult"):
                results[jid] = rec["jobResult"]
            if msg.startswith(("::", "  \u2705", "  \u274c")) or "Job " in msg or "error:" in msg:
                print(f"  [{jid}] {msg[:200]}", flush=True)
        proc.wait()
    return results


def report(sc: Scenario, results: dict[str, str]) -> list[str]:
    jobs = workflow_jobs(sc.workflow)
    problems = []
    ran = {j for j, r in results.items() if r != "skipped"}
    print(f"\n== {sc.name} ({sc.workflow}, {sc.event_name}) ==")
    for jid, job in jobs.items():
        hosted = "self-hosted" if "self-hosted" in job["runs_on"] else "hosted"
        if jid in ran:
            print(f"  ran      {jid:<16} {hosted:<12} {results[jid]}")
        else:
            why = job.get("skip_reason") or (
                f"if: {' '.join(job['if'].split())}"
                if job["if"]
                else "a job it needs did not succeed, or not in the plan (-j)"
            )
            if jid in results and "ACT_LOCAL" in job["if"] and job.get("skip_reason"):
                why = f"skipped under act: {job['skip_reason']}"
            print(f"  skipped  {jid:<16} {hosted:<12} {why}")
    failed = sorted(j for j, r in results.items() if r == "failure" and j not in sc.must_fail)
    if failed:
        problems.append(f"jobs failed: {', '.join(failed)}")
    passed = sorted(j for j in sc.must_fail if results.get(j) != "failure")
    if passed:
        problems.append(f"should have failed: {', '.join(passed)}")
    want_run = sc.must_run if not sc.jobs else with_needs(sc.workflow, sc.jobs) & sc.must_run
    missing = sorted(want_run - ran)
    if missing:
        problems.append(f"should have run: {', '.join(missing)}")
    wrong = sorted(sc.must_skip & ran)
    if wrong:
        problems.append(f"should not have run: {', '.join(wrong)}")
    if sc.name.startswith("PR from a fork"):
        hosted_self = sorted(j for j in ran if "self-hosted" in jobs.get(j, {}).get("runs_on", []))
        # act logs nothing for a job its `if` skipped: make sure what the board jobs need
        # succeeded, so they were skipped by their fork condition and not by a failure
        if results.get("pipeline") != "success":
            problems.append("pipeline did not succeed: the board jobs' skip proves nothing")
        if hosted_self:
            problems.append(f"self-hosted jobs ran for a fork: {', '.join(hosted_self)}")
        else:
            print("  fork PR: zero self-hosted jobs ran")
    return problems


# -- checks after the release scenarios


def registry_aliases() -> dict[str, Any]:
    code = (
        "import json; from mlflow import MlflowClient; c = MlflowClient();"
        "m = c.get_registered_model('kws');"
        "print(json.dumps({a: c.get_model_version('kws', v).tags.get('model_sha256')"
        " for a, v in m.aliases.items()}))"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{STATE / 'mlflow.db'}"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise Failure(f"MLflow aliases: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout)


def check_release(roles: list[str]) -> list[str]:
    problems = []
    bundle = STATE / "releases" / TAG
    verify = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=bundle, check=False)
    if verify.returncode != 0:
        problems.append(f"{bundle}/SHA256SUMS does not verify")
    sha = json.loads((bundle / "release.json").read_text())["model_sha256"]
    aliases = registry_aliases()
    for role in roles:
        if aliases.get(role) != sha:
            problems.append(f"MLflow alias {role} -> {str(aliases.get(role))[:12]}, not {sha[:12]}")
        for board in BOARDS:
            got = board_id(role, board).get("model_sha256", "")
            print(f"  {role} {board}: id reports model_sha256 {got[:16]}")
            if got != sha:
                problems.append(f"{role} {board} reports {got[:12]}, released {sha[:12]}")
    print(f"  release {TAG}: SHA256SUMS verified, aliases {aliases}")
    return problems


def register_candidate() -> None:
    """What a merged PR's pipeline did: the tiny model registered with alias candidate."""
    tiny = ROOT / "build/tiny"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{STATE / 'mlflow.db'}"}
    cmd = [
        sys.executable, "-m", "ml.register", "--int8", str(tiny / "build/model/model_int8.tflite"),
        "--firmware", str(tiny / "firmware/generated"), "--out", str(STATE / "registry.json"),
        "--metrics", str(tiny / "metrics/evaluate.json"),
        "--data-report", str(tiny / "reports/data.json"), "--plots", str(tiny / "metrics/plots"),
        "--params", str(tiny / "params.yaml"),
    ]  # fmt: skip
    if subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode != 0:
        raise Failure("registering the tiny model as candidate failed")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="tools/ci_local.py", description=__doc__.split("\n")[0])
    ap.add_argument("scenarios", nargs="*", default=["all"])
    ap.add_argument("--dry-run", action="store_true", help="act -n: plan only")
    ap.add_argument("--quick", action="store_true", help="fork PR: only the report job chain")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # run as a script: the repository's packages
    from ml.errors import KwsError  # a board that does not come up: one line, not a traceback

    names = list(SCENARIOS) if args.scenarios == ["all"] else args.scenarios
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(
            f"error: unknown scenario {unknown[0]} (choose from {', '.join(SCENARIOS)})",
            file=sys.stderr,
        )
        return 2
    if "rollback" in names and "tag" not in names and not (STATE / "releases" / TAG).is_dir():
        print(f"error: rollback needs release {TAG}: run the tag scenario first", file=sys.stderr)
        return 2
    STATE.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    try:
        actions, cache = extract_actions(), tool_cache()
        if "tag" in names:
            subprocess.run(["make", "tiny"], cwd=ROOT, check=True)
            if (STATE / "mlflow.db").exists():
                (STATE / "mlflow.db").unlink()
            shutil.rmtree(STATE / "vboards", ignore_errors=True)
            shutil.rmtree(STATE / "releases", ignore_errors=True)
            register_candidate()
        for name in names:
            sc = SCENARIOS[name]
            if name == "fork" and args.quick:
                sc.jobs = QUICK_FORK_JOBS
            t0 = time.monotonic()
            with ExitStack() as stack:
                roles = ROLES[name]
                if name == "rollback":
                    # production drifted since the release: erase it, rollback must restore it
                    for board in BOARDS:
                        slot = STATE / "vboards" / f"production-{board}"
                        subprocess.run(
                            [sys.executable, "-m", "hil.virtual.slot", "flash", "--erase",
                             "--port", str(slot / "port")],
                            cwd=ROOT, check=False, capture_output=True,
                        )  # fmt: skip
                boards = Boards(stack, roles)
                if sc.noise_clips and not args.dry_run:
                    feed_noise(list(boards.env.values()), sc.noise_clips)
                results: dict[str, str] = {}
                for job in sc.jobs or [None]:
                    cmd = act_cmd(sc, actions, cache, boards, dry=args.dry_run, job=job)
                    logfile = STATE / f"{name}{'-' + job if job else ''}.log"
                    log(f"{sc.name}: act {sc.event_name} -W {sc.workflow}"
                        f"{' -j ' + job if job else ''} (log {logfile})")  # fmt: skip
                    results.update(run_act(cmd, logfile))
                found = report(sc, results)
                if not found and not args.dry_run and name in ("tag", "rollback"):
                    # while the boards are still powered: `id` needs no boot
                    found = check_release(ROLES[name])
            print(f"  {name}: {time.monotonic() - t0:.0f} s, {'OK' if not found else 'FAILED'}")
            problems += [f"{name}: {p}" for p in found]
    except (Failure, KwsError, subprocess.CalledProcessError, OSError) as exc:
        problems.append(str(exc))
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        return 1
    log(f"all scenarios as expected: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
