"""A polling session with a deployed board, shared by `make telemetry` and `make collect`: the
command-line arguments that name the board, and the port lock held around a synced client."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hil.boards import board_facts
from hil.client import Client
from hil.lock import PortLock
from ml.errors import KwsError
from ml.params import DEFAULT_PARAMS, load_params

NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # a board's name becomes a folder name


def add_board_args(ap: argparse.ArgumentParser, interval_s: float) -> None:
    ap.add_argument("--board", required=True, help="board type (hil/boards.yaml)")
    ap.add_argument("--port", required=True, help="serial port of the board")
    ap.add_argument("--name", help="this board's name (default: --board)")
    ap.add_argument("--polls", type=int, default=1, help="polls to make (default: 1)")
    ap.add_argument("--interval-s", type=float, default=interval_s, help="seconds between polls")
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS)


def board_name(args: argparse.Namespace, error: type[KwsError]) -> str:
    """The board's name from --name/--board, with --polls and --interval-s checked."""
    name = args.name or args.board
    if not NAME_RE.fullmatch(name):
        raise error(f"--name {name!r}: use letters, digits, '_', '.', '-' (<= 64)")
    if args.polls < 1 or args.interval_s < 0:
        raise error("--polls must be >= 1 and --interval-s >= 0")
    return name


@contextmanager
def open_board(args: argparse.Namespace, name: str, purpose: str) -> Iterator[Client]:
    """Lock the port, connect and resynchronize; raises hil.client.BoardError."""
    facts = board_facts(args.board)
    hil = load_params(args.params)["hil"]
    with PortLock(args.port, purpose, hil["lock_timeout_s"]):
        baud = int(facts.get("baud", 115200))
        client = Client(args.port, hil["command_timeout_s"], baud, name=name)
        try:
            client.sync()
            yield client
        finally:
            client.close()
