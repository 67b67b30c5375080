"""Put a model on a board and check it, for the workflows' HIL, release and rollback jobs.

    python -m hil.deploy flash --board esp32 --port PORT --settings S [--image FW]
    python -m hil.deploy check-id --board esp32 --port PORT --sha256 HEX
    python -m hil.deploy suite --board esp32 --port PORT --suite smoke|acceptance|all \
        --settings S --vectors V --params P --results R

PORT is a real serial port (flashed with the board's own tool through `hil.flash`, IMAGE the
firmware built for it) or a virtual board's `<slot>/port` (`hil.virtual.slot`: the image is
the model settings + .tflite). `check-id` asks the board for `id` and fails, naming the board
and port, unless it reports the expected model sha256.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
from pathlib import Path

from hil.boards import board_facts
from hil.suite_cmd import SUITES, pytest_cmd
from ml.errors import KwsError, run_main

log = logging.getLogger("hil.deploy")


class DeployError(KwsError):
    """A board did not take the release or does not report it."""


def is_virtual(port: str) -> bool:
    from hil.virtual.slot import slot_of_port

    return slot_of_port(port) is not None


def flash(board: str, port: str, settings: Path, image: Path | None) -> None:
    """Flash `image` (real board) or the model of `settings` (virtual board) onto `port`."""
    board_facts(board)
    if is_virtual(port):
        from hil.virtual.slot import flash as vflash

        sha = vflash(port, settings)
        print(f"deploy: virtual {board} on {port} flashed with model {sha}")
        return
    from hil.flash import flash as real_flash
    from hil.lock import PortLock

    if image is None:
        raise DeployError(f"board {board} on {port}: no firmware image to flash (--image)")
    with PortLock(port, f"deploy {board}", 600.0):
        real_flash(board, port, image)
    print(f"deploy: {board} on {port} flashed with {image}")


def board_id(board: str, port: str) -> dict[str, str]:
    from hil.client import Client

    facts = board_facts(board)
    c = Client(port, timeout_s=10.0, baud=int(facts.get("baud", 115200)), name=board)
    try:
        return c.sync()
    finally:
        c.close()


def check_id(board: str, port: str, sha256: str) -> None:
    try:
        ident = board_id(board, port)
    except KwsError as exc:
        raise DeployError(f"board {board} on {port}: no identity ({exc})") from None
    got = ident.get("model_sha256", "")
    if ident.get("board") != board:
        raise DeployError(f"board {board} on {port}: answers as board '{ident.get('board')}'")
    if got != sha256:
        raise DeployError(
            f"board {board} on {port}: reports model {got[:12] or '-'}, "
            f"released model is {sha256[:12]}"
        )
    print(f"deploy: {board} on {port} reports model_sha256 {got} (fw {ident.get('fw')})")


def suite(
    board: str,
    port: str,
    which: str,
    *,
    settings: Path,
    vectors: Path,
    params: Path,
    results: Path,
) -> int:
    cmd = pytest_cmd(
        board, port, settings=settings, vectors=vectors, results=results, params=params,
        suite=which,
    )  # fmt: skip
    return subprocess.run(cmd, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.deploy", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("flash", "check-id", "suite"):
        p = sub.add_parser(name)
        p.add_argument("--board", required=True)
        p.add_argument("--port", required=True)
        if name == "flash":
            p.add_argument("--settings", type=Path, required=True)
            p.add_argument("--image", type=Path)
        if name == "check-id":
            p.add_argument("--sha256", required=True)
        if name == "suite":
            p.add_argument("--suite", choices=sorted(SUITES), required=True)
            p.add_argument("--settings", type=Path, required=True)
            p.add_argument("--vectors", type=Path, required=True)
            p.add_argument("--params", type=Path, required=True)
            p.add_argument("--results", type=Path, default=Path("hil/results"))
    args = ap.parse_args(argv)
    if not args.port:
        raise DeployError(f"board {args.board}: empty port (set the runner's port variable)")
    if args.cmd == "flash":
        flash(args.board, args.port, args.settings, args.image)
        return 0
    if args.cmd == "check-id":
        check_id(args.board, args.port, args.sha256)
        return 0
    rc = suite(
        args.board,
        args.port,
        args.suite,
        settings=args.settings,
        vectors=args.vectors,
        params=args.params,
        results=args.results,
    )
    if rc != 0:
        raise DeployError(f"board {args.board} on {args.port}: {args.suite} suite failed")
    return 0


if __name__ == "__main__":
    run_main(main)
