"""`python -m hil.run_board --board B --port P [--image I] [--no-flash]`: what `make hil`
runs on a real board. One lock on the port is held from before flashing until both suites
are done, so no other job can flash or talk to the board in between; every step is bounded
(flash_timeout_s, test_timeout_s per test, suite_timeout_s for the pytest run, all in
hil/boards.yaml). `--no-flash` (`make hil ... FLASH=0`) tests a board already flashed.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hil import proc
from hil.boards import board_facts, board_names
from hil.flash import check_image, flash
from hil.lock import PortLock
from hil.metrics import table
from hil.suite_cmd import pytest_cmd
from ml.errors import KwsError, run_main
from ml.params import load_params

log = logging.getLogger("hil.run_board")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.run_board", description=__doc__)
    ap.add_argument("--board", required=True, help=f"one of {', '.join(board_names())}")
    ap.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    ap.add_argument("--image", type=Path, help="firmware (default: flash_image in boards.yaml)")
    ap.add_argument("--no-flash", action="store_true", help="test the firmware on the board")
    ap.add_argument("--generated", type=Path, default=Path("firmware/generated"))
    ap.add_argument("--vectors", type=Path, default=Path("hil/vectors"))
    ap.add_argument("--results", type=Path, default=Path("hil/results"))
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args(argv)
    facts = board_facts(args.board)
    hil_params = load_params(args.params)["hil"]
    settings = args.generated / "model_settings.json"
    for need in (settings, args.vectors / "manifest.json"):
        if not need.is_file():
            raise KwsError(f"{need}: missing (run `make tiny` or the pipeline's export)")
    image = args.image or Path(facts["flash_image"])
    if not args.no_flash:
        check_image(args.board, image)  # before waiting for the port
    cmd = pytest_cmd(
        args.board,
        args.port,
        settings=settings,
        vectors=args.vectors,
        results=args.results,
        params=args.params,
        timeout_s=float(facts["test_timeout_s"]),
    )
    with PortLock(args.port, f"make hil {args.board}", hil_params["lock_timeout_s"]) as lock:
        if args.no_flash:
            log.info("FLASH=0: testing the firmware already on %s", args.port)
        else:
            flash(args.board, args.port, image)
        log.info("running: %s", " ".join(cmd))
        child = proc.start(cmd, env=lock.child_env())
        code = proc.wait(child, float(facts["suite_timeout_s"]))
    if (args.results / args.board / "metrics.json").is_file():
        print(table(args.results, [args.board]))
    if code is None:
        raise KwsError(
            f"HIL suites on {args.board} ({args.port}) did not finish within "
            f"suite_timeout_s {facts['suite_timeout_s']:g} s (killed)"
        )
    if code != 0:
        raise KwsError(f"HIL suites failed on {args.board} ({args.port}); see {args.results}")
    return 0


if __name__ == "__main__":
    run_main(main)
