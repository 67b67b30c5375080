"""Bounded child processes: every wait has a timeout, and a child that outlives it is killed
with its whole process group (a flash tool's helpers, pytest's board threads), so nothing
keeps a serial port open after its job gave up."""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

GRACE_S = 5.0  # between SIGTERM and SIGKILL


def start(cmd: Sequence[str], **kw: Any) -> subprocess.Popen:
    """Popen in a new session: the child leads a process group we can kill as one."""
    return subprocess.Popen(list(cmd), start_new_session=True, **kw)


def kill_group(proc: subprocess.Popen, grace_s: float = GRACE_S) -> None:
    """SIGTERM the child's process group, SIGKILL what is left after `grace_s`; reap it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass  # the whole group is gone already
        try:
            proc.wait(timeout=grace_s)
            if sig == signal.SIGTERM:
                try:  # helpers that ignore SIGTERM outlive their leader: kill them too
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


def run(cmd: Sequence[str], timeout_s: float, cwd: Path | None = None) -> tuple[int | None, str]:
    """Run `cmd`, output captured (stdout + stderr as one text). Exit code None: it did not
    finish within `timeout_s` and was killed with its process group."""
    proc = start(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        log.warning("%s: no result within %g s; killing its process group", cmd[0], timeout_s)
        kill_group(proc)
        try:  # what it printed before it hung (bounded: a helper may have escaped the group)
            out, _ = proc.communicate(timeout=GRACE_S)
        except (subprocess.TimeoutExpired, ValueError):
            out = ""
        return None, out or ""
    except BaseException:  # Ctrl-C, or the caller's own failure: leave nothing running
        kill_group(proc)
        raise


def wait(proc: subprocess.Popen, timeout_s: float) -> int | None:
    """Wait for a started child; None (and the group killed) when it overran `timeout_s`."""
    try:
        return proc.wait(timeout=max(timeout_s, 0.0))
    except subprocess.TimeoutExpired:
        log.warning(
            "pid %d: still running after %g s; killing its process group", proc.pid, timeout_s
        )
        kill_group(proc)
        return None
    except BaseException:  # Ctrl-C: the child is in its own session and did not get it
        kill_group(proc)
        raise


def first_line(proc: subprocess.Popen, timeout_s: float) -> str:
    """The child's first stdout line (a board's `PORT <pty>`), or what it printed before it
    exited or `timeout_s` passed; never blocks past the deadline."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    end, buf = time.monotonic() + timeout_s, b""
    while time.monotonic() < end and b"\n" not in buf:
        if select.select([fd], [], [], 0.2)[0]:
            chunk = os.read(fd, 4096)
            if not chunk:  # the child exited before printing a line
                break
            buf += chunk
    return buf.split(b"\n", 1)[0].decode(errors="replace")


def stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM a child that is still running, SIGKILL it after `grace_s`; reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
