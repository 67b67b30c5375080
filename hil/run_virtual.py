"""`python -m hil.run_virtual`: start one virtual board per board type, run the smoke and
acceptance suites against all of them in parallel, print a table per board, and stop the
boards on every exit path (failure, Ctrl-C, a board that never comes up).

`--kind qemu`: the emulated Cortex-M4 board (hil/virtual/qemu.py; nano33ble only: the board
its image is budgeted as) instead of host boards; the table adds the image's sizes against
the board's budgets.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from hil import proc
from hil.boards import board_facts, board_names
from hil.image_size import image_report
from hil.metrics import table
from hil.suite_cmd import pytest_cmd
from hil.virtual.qemu import KIND_CHOICES, image_facts, m4_image
from ml.errors import KwsError, run_main

log = logging.getLogger("hil.run_virtual")
START_TIMEOUT_S = 120.0


class VirtualBoard:
    """A `python -m hil.virtual` child process; `port` once it printed `PORT <path>`."""

    def __init__(
        self, board: str, settings: Path, extra: list[str] | None = None, kind: str = "host"
    ) -> None:
        self.board = board
        cmd = [sys.executable, "-m", "hil.virtual", "--kind", kind, "--board", board]
        cmd += ["--settings", str(settings)]
        self.proc = subprocess.Popen(
            [*cmd, *(extra or [])], stdout=subprocess.PIPE, start_new_session=True
        )
        self.port = self._read_port()

    def _read_port(self) -> str:
        first = proc.first_line(self.proc, START_TIMEOUT_S)
        if first.startswith("PORT "):
            return first.split(" ", 1)[1].strip()
        self.stop()
        raise KwsError(f"virtual {self.board}: did not come up (exit {self.proc.returncode})")

    def stop(self) -> None:
        proc.stop(self.proc)

    def __enter__(self) -> VirtualBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.run_virtual", description=__doc__)
    ap.add_argument("--boards", nargs="+", help="default: every board (host), nano33ble (qemu)")
    ap.add_argument("--kind", choices=KIND_CHOICES, default="host", help="host or qemu boards")
    ap.add_argument("--generated", type=Path, default=Path("firmware/generated"))
    ap.add_argument("--vectors", type=Path, default=Path("hil/vectors"))
    ap.add_argument("--results", type=Path, default=Path("hil/results"))
    ap.add_argument(
        "--params",
        type=Path,
        default=Path("params.yaml"),
        help="params with the hil gates (the tiny pipeline has its own)",
    )
    args = ap.parse_args(argv)
    if args.kind == "qemu":  # the board the image was configured (budgeted) as
        m4 = str(image_facts(m4_image())["board"])
        if args.boards not in (None, [m4]):
            raise KwsError(f"--kind qemu: the emulated Cortex-M4 image is built as {m4} only")
        args.boards = [m4]
    elif args.boards is None:
        args.boards = board_names()
    settings = args.generated / "model_settings.json"
    for need in (settings, args.vectors / "manifest.json"):
        if not need.is_file():
            raise KwsError(f"{need}: missing (run `make tiny` or the pipeline's export)")
    with ExitStack() as stack:
        boards = [
            stack.enter_context(VirtualBoard(b, settings, kind=args.kind)) for b in args.boards
        ]
        for vb in boards:
            log.info("virtual %s on %s", vb.board, vb.port)
        runs = {
            vb.board: proc.start(
                pytest_cmd(
                    vb.board,
                    vb.port,
                    settings=settings,
                    vectors=args.vectors,
                    results=args.results,
                    params=args.params,
                    timeout_s=float(board_facts(vb.board)["test_timeout_s"]),
                )
            )
            for vb in boards
        }
        # the runs are parallel: one deadline, the longest suite_timeout_s of the boards
        deadline = time.monotonic() + max(board_facts(b)["suite_timeout_s"] for b in runs)
        try:
            codes = {b: proc.wait(p, deadline - time.monotonic()) for b, p in runs.items()}
        except BaseException:  # Ctrl-C: the runs are in their own sessions; stop them all
            for p in runs.values():
                proc.kill_group(p)
            raise
    hung = [b for b, c in codes.items() if c is None]
    if hung:
        log.error("HIL suites on virtual %s overran suite_timeout_s (killed)", ", ".join(hung))
    failed = [b for b, c in codes.items() if c != 0]
    done = [b for b in args.boards if (args.results / b / "metrics.json").is_file()]
    if done:
        what = "emulated Cortex-M4 (QEMU mps2-an386)" if args.kind == "qemu" else "virtual"
        print(f"\nHIL on {what} boards ({args.generated}, {args.vectors}):")
        print(table(args.results, done))
        if args.kind == "qemu":
            print(image_report(m4_image()))
    if failed:
        raise KwsError(f"HIL suites failed on {args.kind} {', '.join(failed)} (see {args.results})")
    return 0


if __name__ == "__main__":
    run_main(main)
