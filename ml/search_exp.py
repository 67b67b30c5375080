"""One candidate of the search as a DVC experiment in the workspace (`dvc exp run -n <name>
-S key=value ... evaluate`), its record or failure, and the workspace files put back around it.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hil.proc import kill_group, start
from ml.errors import KwsError
from ml.fsutil import read_json_object
from ml.search_space import Candidate, describe, exp_name, set_args

log = logging.getLogger("ml.search")
# What `dvc exp run` leaves holding the last experiment, put back after each one: the
# params and lock files, and every file under the stages' uncached outputs' folders (metrics,
# dvclive's per-epoch plots and summary, reports). Whole folders, so a file a stage starts
# writing later is covered too; the DVC-cached outputs come back with `dvc checkout` at the end.
RESTORE_FILES = ("params.yaml", "dvc.lock")
RESTORE_DIRS = ("metrics", "reports")


class SearchError(KwsError):
    """The search cannot start or an input of it is unusable."""


def _git(root: Path, *args: str) -> str | None:
    """stdout of a git command in `root`, or None when it fails (not a repository, detached)."""
    res = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    return res.stdout.strip() if res.returncode == 0 else None


class Workspace:
    """Keeps a copy of params.yaml, dvc.lock, metrics/ and reports/ and puts them back (also
    after a crash: the copy stays on disk until it has been restored).

    `dvc exp run` detaches HEAD while it runs and re-attaches the branch when it ends; a run
    killed first (Ctrl-C reaches it with the search, a CI job is cancelled) leaves HEAD
    detached, and a commit made then would leave the branch. So the branch is recorded
    beside the copy and re-attached on restore when HEAD is detached at its commit.
    """

    def __init__(self, root: Path, out: Path) -> None:
        self.root, self.saved = root, out / "workspace"
        self.head_file = out / "workspace.branch"

    def _files(self) -> list[Path]:
        """Relative paths of the files kept now in the workspace."""
        found = [Path(n) for n in RESTORE_FILES if (self.root / n).is_file()]
        for d in RESTORE_DIRS:
            top = self.root / d
            if top.is_dir():
                found += sorted(f.relative_to(self.root) for f in top.rglob("*") if f.is_file())
        return found

    def save(self) -> None:
        if self.saved.is_dir():  # an earlier search was killed mid-experiment
            log.info("restoring params.yaml/dvc.lock left by an interrupted search")
            self.restore()
        tmp = self.saved.with_name("workspace.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for rel in self._files():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.root / rel, tmp / rel)
        branch = _git(self.root, "symbolic-ref", "-q", "HEAD")
        if branch:
            self.head_file.write_text(branch + "\n")
        tmp.rename(self.saved)

    def restore(self) -> None:
        kept = {f.relative_to(self.saved) for f in self.saved.rglob("*") if f.is_file()}
        for rel in self._files():
            if rel not in kept:  # the experiment created it
                (self.root / rel).unlink()
        for rel in sorted(kept):
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.saved / rel, self.root / rel)
        self._reattach(sorted(kept))
        shutil.rmtree(self.saved, ignore_errors=True)

    def _reattach(self, restored: list[Path]) -> None:
        """Put the branch back at HEAD if an interrupted `dvc exp run` left HEAD detached at
        the branch's commit, and unstage what it staged in the files just restored."""
        if not self.head_file.is_file():
            return
        branch = self.head_file.read_text().strip()
        self.head_file.unlink()
        if _git(self.root, "symbolic-ref", "-q", "HEAD") is not None:
            return  # attached: dvc put it back itself
        if _git(self.root, "rev-parse", "HEAD") != _git(self.root, "rev-parse", branch):
            log.warning("HEAD is detached away from %s; left as is (git checkout it)", branch)
            return
        _git(self.root, "symbolic-ref", "HEAD", branch)
        if restored:
            _git(self.root, "reset", "-q", "--", *(str(r) for r in restored))
        log.info("search: re-attached %s (an interrupted dvc exp run had detached HEAD)", branch)


def dvc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("dvc")
    return run_group([str(exe) if exe.exists() else "dvc", *args], cwd)


def run_group(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`cmd` to its end, output captured, in a process group of its own: when the search is
    interrupted (Ctrl-C, SIGTERM) the whole group is killed, the stage dvc runs (python -m
    ml.train) included. Killing dvc alone orphans that stage, which then writes its outputs
    into the workspace the search has just put back."""
    p = start(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate()
    except BaseException:
        kill_group(p)
        raise
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


_ERROR_LINE = re.compile(r"^(ERROR|error)\b|^\w*(Error|Exception)\b")


def failure_summary(output: str, returncode: int) -> str:
    """One line from a failed run's output: its error lines (a stage's `error: ...` and
    DVC's `ERROR: ...`, or a traceback's last line), else its last line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = list(dict.fromkeys(ln for ln in lines if _ERROR_LINE.search(ln)))
    picked = errors[-3:] or lines[-1:] or [f"dvc exit {returncode}"]
    return "; ".join(picked)[:600]


def run_candidate(root: Path, c: Candidate, stage: str, logs: Path) -> dict[str, Any]:
    """One `dvc exp run` in the workspace; the record of its figures (or its failure).

    The run's full output goes to `<logs>/<exp>.log`; a failure's record names that file
    and keeps the output's error lines, so the cause is on the search's own error line.
    """
    name = exp_name(c)
    dvc("exp", "remove", name, cwd=root)  # a half-recorded earlier attempt
    start = time.monotonic()
    cmd = ["exp", "run", "-n", name, *set_args(c), stage]
    res = dvc(*cmd, cwd=root)
    seconds = round(time.monotonic() - start, 1)
    rec: dict[str, Any] = {"exp": name, "candidate": c, "label": describe(c), "run_s": seconds}
    logs.mkdir(parents=True, exist_ok=True)
    log_file = logs / f"{name}.log"
    log_file.write_text(
        f"$ dvc {' '.join(cmd)}\nexit {res.returncode}\n"
        f"--- stderr\n{res.stderr}\n--- stdout\n{res.stdout}\n"
    )
    if res.returncode != 0:
        rec["error"] = failure_summary(res.stderr + "\n" + res.stdout, res.returncode)
        rec["log"] = str(log_file)
        rec["stderr_tail"] = res.stderr.splitlines()[-40:]
        return rec
    metrics = root / "metrics/evaluate.json"
    rec["metrics"] = read_json_object(metrics, "evaluate metrics", SearchError)
    train = root / "metrics/train.json"
    rec["train"] = json.loads(train.read_text()) if train.is_file() else {}
    return rec
