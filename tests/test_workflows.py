"""The workflow files: every `run:` step is one existing make target, actions are pinned to the
shas act has offline copies of, no event data is expanded inside `run:`, every job has its
own permissions, and no fork pull request can reach a self-hosted runner."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))
# ../shared/act/README.md: the releases act-actions.tgz holds (actions/checkout is act's own)
PINNED = {
    "actions/checkout": "11bd71901bbe5b1630ceea73d27597364c9af683",
    "actions/setup-python": "a26af69be951a213d495a4c3e4e4022e16d87065",
    "actions/upload-artifact": "ea165f8d65b6e75b540449e92b4886f43607fa02",
    "actions/download-artifact": "d3f86a106a0bac45b974a628896c90dbdf5c8093",
    "actions/cache": "0057852bfaa89a56745cba8c7296529d2fc39830",
}
TARGET_RE = re.compile(r"^([a-zA-Z0-9_.-]+):(?!=)", re.M)


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    text += "".join(p.read_text() for p in sorted((ROOT / "mk").glob("*.mk")))
    return set(TARGET_RE.findall(text))


def steps() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for wf in WORKFLOWS:
        for jid, job in load(wf)["jobs"].items():
            for step in job.get("steps", []):
                out.append((wf.name, jid, step))
    return out


def test_there_are_the_workflows_users_meet():
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "hil.yml", "release.yml", "rollback.yml", "nightly.yml"} <= names


@pytest.mark.parametrize(
    "wf,job,step", [s for s in steps() if "run" in s[2]], ids=lambda v: str(v)[:40]
)
def test_every_run_step_is_one_existing_make_target(wf, job, step):
    words = shlex.split(step["run"])
    assert words[0] == "make" and len(words) >= 2, f"{wf}/{job}: run: must be `make <target>`"
    assert "\n" not in step["run"].strip(), f"{wf}/{job}: one make call per step"
    assert words[1] in make_targets(), f"{wf}/{job}: make target '{words[1]}' does not exist"
    for arg in words[2:]:
        assert re.fullmatch(r"[A-Z_]+=\S*", arg), f"{wf}/{job}: '{arg}' is not a VAR=value"
    assert "${{" not in step["run"], f"{wf}/{job}: expression inside run: (pass it via env:)"


def test_the_checker_rejects_a_missing_target():
    assert "no-such-target" not in make_targets()
    assert {"report", "release", "rollback", "hil-runner", "ci-local", "lint"} <= make_targets()


@pytest.mark.parametrize("wf,job,step", [s for s in steps() if "uses" in s[2]])
def test_actions_are_pinned_to_the_offline_shas(wf, job, step):
    name, _, ref = step["uses"].partition("@")
    base = "/".join(name.split("/")[:2])
    assert base in PINNED, f"{wf}/{job}: {name} has no offline copy for act"
    assert ref == PINNED[base], f"{wf}/{job}: {name} must be pinned to {PINNED[base]}"


@pytest.mark.parametrize("wf", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege(wf):
    data = load(wf)
    assert "pull_request_target" not in (data["on"] or {}), wf.name
    assert data.get("permissions") == {}, f"{wf.name}: top-level permissions must be {{}}"
    for jid, job in data["jobs"].items():
        assert "permissions" in job, f"{wf.name}/{jid}: no permissions"
        writes = [k for k, v in job["permissions"].items() if v == "write"]
        assert set(writes) <= {"pull-requests", "contents"}, f"{wf.name}/{jid}: {writes}"
        if "contents" in writes:
            # the release's publish job; retrain's pull-request job pushes a retrain/ branch;
            # nightly's drift-alarm sends repository_dispatch (a hosted job, not the boards')
            allowed = {
                ("release.yml", "publish"),
                ("retrain.yml", "pull-request"),
                ("nightly.yml", "drift-alarm"),
            }
            assert (wf.name, jid) in allowed, f"{wf.name}/{jid}"
        for step in job.get("steps", []):
            if "actions/checkout" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is False, f"{wf.name}/{jid}"


def self_hosted(job: dict[str, Any]) -> bool:
    runs_on = job.get("runs-on", [])
    return "self-hosted" in (runs_on if isinstance(runs_on, list) else [runs_on])


def test_self_hosted_labels_are_declared_for_actionlint():
    labels = set(yaml.safe_load((ROOT / ".github/actionlint.yaml").read_text())[
        "self-hosted-runner"]["labels"])  # fmt: skip
    boards = yaml.safe_load((ROOT / "hil/boards.yaml").read_text())
    assert {b["runner_label"] for b in boards.values()} <= labels
    for wf in WORKFLOWS:
        for jid, job in load(wf)["jobs"].items():
            if self_hosted(job):
                for label in job["runs-on"][2:]:
                    if "${{" not in label:
                        assert label in labels, f"{wf.name}/{jid}: label {label} undeclared"


def test_forks_never_reach_self_hosted_runners():
    ci = load(ROOT / ".github/workflows/ci.yml")
    callers = [j for j in ci["jobs"].values() if j.get("uses", "").endswith("/hil.yml")]
    assert len(callers) == len(yaml.safe_load((ROOT / "hil/boards.yaml").read_text()))
    for job in callers:
        assert "head.repo.fork == false" in job["if"]
    hil = load(ROOT / ".github/workflows/hil.yml")
    assert "head.repo.fork != true" in hil["jobs"]["hil"]["if"]
    for wf in WORKFLOWS:
        data = load(wf)
        events = set(data["on"]) if isinstance(data["on"], dict) else {data["on"]}
        for jid, job in data["jobs"].items():
            if self_hosted(job) and wf.name != "hil.yml":
                # release/rollback/nightly boards: tags, the default branch's schedule and
                # manual dispatch, never pull requests
                assert events <= {"push", "workflow_dispatch", "schedule"}, f"{wf.name}/{jid}"
                if "push" in events:
                    assert set(data["on"]["push"]) == {"tags"}, f"{wf.name}/{jid}"
