"""Every wait of the HIL tools is bounded: a child that overruns is killed with its whole
process group; the suites run under pytest-timeout with the board's test_timeout_s."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

from hil import proc
from hil.boards import board_facts
from hil.suite_cmd import pytest_cmd

# a leader that waits on a helper which ignores SIGTERM (only SIGKILL of the group ends it)
STUBBORN = "trap '' TERM; sleep 300 & echo $! > \"$0\"; wait"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_wait_kills_an_overrunning_child_and_its_group(tmp_path):
    pid_file = tmp_path / "helper.pid"
    child = proc.start(["sh", "-c", STUBBORN, str(pid_file)])
    t = time.monotonic()
    assert proc.wait(child, 1.0) is None
    assert time.monotonic() - t < 1.0 + 2 * proc.GRACE_S + 2
    helper = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while (_alive(child.pid) or _alive(helper)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child.pid) and not _alive(helper)


def test_wait_returns_the_exit_code_in_time():
    assert proc.wait(proc.start([sys.executable, "-c", "raise SystemExit(3)"]), 30) == 3


def test_run_captures_output_or_reports_a_hang():
    assert proc.run(["sh", "-c", "echo out; echo err >&2; exit 4"], 30) == (4, "out\nerr\n")
    code, _ = proc.run(["sleep", "30"], 0.5)
    assert code is None


def test_suites_run_under_pytest_timeout_from_boards_yaml(tmp_path):
    limit = board_facts("esp32")["test_timeout_s"]
    cmd = pytest_cmd(
        "esp32", "/dev/pts/9", settings=tmp_path, vectors=tmp_path, results=tmp_path,
        params=tmp_path, timeout_s=float(limit),
    )  # fmt: skip
    assert cmd[cmd.index("--timeout") + 1] == f"{limit:g}"
    assert importlib.util.find_spec("pytest_timeout")  # the plugin behind --timeout is there
