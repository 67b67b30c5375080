"""`python -m hil.virtual --board esp32`: a virtual board on a pty, speaking PROTOCOL.md.

The first stdout line is `PORT <path>`; the board serves until SIGTERM/SIGINT or until a
`disconnect` fault closes the port.
"""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path

from hil.boards import BOARDS_FILE, board_facts, board_names
from hil.version import firmware_version
from hil.virtual.engine import Engine
from hil.virtual.faults import KINDS, Faults, FaultyPort
from hil.virtual.protocol import Device
from hil.virtual.transport import PtyPort
from ml.errors import KwsError, run_main

log = logging.getLogger("hil.virtual")
DEFAULT_SETTINGS = Path("firmware/generated/model_settings.json")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m hil.virtual", description=__doc__)
    ap.add_argument("--board", required=True, help=f"one of {', '.join(board_names())}")
    ap.add_argument(
        "--settings",
        type=Path,
        default=DEFAULT_SETTINGS,
        help="model_settings.json (default: %(default)s)",
    )
    ap.add_argument("--model", type=Path, help="int8 .tflite (default: next to --settings)")
    ap.add_argument("--fault", choices=KINDS, help="inject this fault")
    ap.add_argument(
        "--fault-after",
        type=int,
        default=0,
        metavar="N",
        help="commands served normally before the fault (default: 0)",
    )
    ap.add_argument("--fw", default=None, help="firmware version to report")
    ap.add_argument(
        "--lazy-frontend",
        action="store_true",
        help="load the front-end at the first audio command (faster start)",
    )
    ap.add_argument(
        "--boards-file", type=Path, default=BOARDS_FILE, help="board facts (default: %(default)s)"
    )
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    board_facts(args.board, args.boards_file)  # unknown board: one line naming the choices
    if args.fault_after < 0:
        raise KwsError(f"--fault-after must be >= 0, got {args.fault_after}")
    engine = Engine(args.board, args.settings, args.model, args.boards_file)
    if engine.boot_error is None and not args.lazy_frontend:
        engine.warm_up()  # TensorFlow's first call takes seconds; not inside a command
    faults = Faults(args.fault, args.fault_after)
    port = PtyPort()

    def stop(signum: int, _frame: object) -> None:
        # unwinds whatever the board is doing (even a slow-link write); `finally` closes
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    log.info(
        "%s virtual board on %s (fault=%s after %d)",
        args.board,
        port.path,
        args.fault,
        args.fault_after,
    )
    try:
        # boot first: like a real board's, the banner is said before anyone opens the port
        device = Device(engine, FaultyPort(port, faults), args.fw or firmware_version(), faults)
        print(f"PORT {port.path}", flush=True)
        device.serve()
        if port.unplugged:
            # stay "unplugged" (our slave fd keeps the pts number from being reused by another
            # board) until we are stopped, as a board lying on the bench would
            log.info(
                "%s virtual board on %s unplugged; waiting to be stopped", args.board, port.path
            )
            while True:
                signal.pause()
    finally:
        port.close()
    log.info("%s virtual board on %s stopped", args.board, port.path)
    return 0


if __name__ == "__main__":
    run_main(main)
