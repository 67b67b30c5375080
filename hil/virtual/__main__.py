"""`python -m hil.virtual --board esp32`: the host board (the firmware itself, built as
`kws_host_board`: firmware/core + firmware/tflm + TFLM's reference kernels) on a pty.
`--kind qemu --board nano33ble`: the emulated Cortex-M4 board instead (the `kws_m4_board`
image with TFLM's CMSIS-NN kernels under qemu-system-arm -M mps2-an386, hil/virtual/qemu.py).

The first stdout line is `PORT <path>`; the board serves until SIGTERM/SIGINT. With
`--fault`, a relay (hil/virtual/relay.py) between that pty and the firmware's injects it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import tempfile
from pathlib import Path

from hil.boards import BOARDS_FILE, board_facts, board_names
from hil.virtual.board import HostBoard
from hil.virtual.faults import KINDS, Faults
from hil.virtual.qemu import KIND_CHOICES, QemuBoard
from ml.errors import KwsError, run_main

log = logging.getLogger("hil.virtual")
DEFAULT_SETTINGS = Path("firmware/generated/model_settings.json")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m hil.virtual", description=__doc__)
    ap.add_argument("--board", required=True, help=f"one of {', '.join(board_names())}")
    ap.add_argument(
        "--kind",
        choices=KIND_CHOICES,
        default="host",
        help="host: the firmware as a Linux program; qemu: the Cortex-M4 image under QEMU",
    )
    ap.add_argument(
        "--settings",
        type=Path,
        default=DEFAULT_SETTINGS,
        help="model_settings.json (default: %(default)s)",
    )
    ap.add_argument("--model", type=Path, help="int8 .tflite (default: next to --settings)")
    ap.add_argument("--fault", choices=KINDS, help="inject this fault (through the relay)")
    ap.add_argument(
        "--fault-after",
        type=int,
        default=0,
        metavar="N",
        help="commands served normally before the fault (default: 0)",
    )
    ap.add_argument("--fw", default=None, help="firmware version to report")
    ap.add_argument(
        "--plant",
        choices=("frontend", "output"),
        help="test hook: one front-end feature or one model output off by one",
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

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(0)  # unwinds whatever we are doing; `finally` stops the firmware

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.kind == "qemu" and (args.model or args.fw):
        raise KwsError("--kind qemu: the image carries its model and version (no --model, --fw)")
    with tempfile.TemporaryDirectory(prefix="kws-host-board-") as tmp:
        board: HostBoard | QemuBoard
        if args.kind == "qemu":
            board = QemuBoard(
                args.board, args.settings, plant=args.plant, boards_file=args.boards_file
            )
        else:
            board = HostBoard(
                args.board,
                args.settings,
                args.model,
                fw=args.fw,
                plant=args.plant,
                workdir=Path(tmp),
                boards_file=args.boards_file,
            )
        try:
            log.info("%s %s board on %s (fault=%s)", args.board, args.kind, board.port, args.fault)
            if args.fault is None:
                print(f"PORT {board.port}", flush=True)
                assert board.proc is not None
                code = board.proc.wait()
                raise KwsError(f"{args.kind} board {args.board}: firmware exited ({code})")
            from hil.virtual.relay import serve

            serve(board, Faults(args.fault, args.fault_after))
        finally:
            board.stop()
    return 0


if __name__ == "__main__":
    run_main(main)
