"""`python -m hil.flash --board esp32|nano33ble --port PORT [--image PATH]`: put the firmware
on a real board with the board's own tool (hil/boards.yaml: flash_tool, flash_args).

- ESP32: esptool at `flash_baud`, retried once at `flash_baud_fallback` (long or cheap USB
  cables often fail at 921600 but work at 115200).
- Nano 33 BLE: `arduino-cli upload --fqbn ... --port PORT --input-file BIN`.
The exact command is logged before it runs; a missing tool or a board that does not answer
is one line and a non-zero exit. A tool that hangs is killed with its whole process group
after `flash_timeout_s` (hil/boards.yaml). The port lock keeps a test job off the board
meanwhile (`make hil` holds it across flashing and both suites: hil/run_board.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import shutil
from pathlib import Path
from typing import Any

from hil import proc
from hil.boards import BOARDS_FILE, board_facts
from hil.lock import PortLock
from ml.errors import KwsError, run_main

log = logging.getLogger("hil.flash")

ESP_MERGED_OFFSET = "0x0"


class FlashError(KwsError):
    """The flash tool is missing or the board did not take the image."""


def tool_path(board: str, tool: str) -> str:
    """The flash tool on PATH (the venv's bin/ holds esptool; the Makefile puts it first)."""
    exe = shutil.which(tool)
    if exe is None:
        raise FlashError(f"board {board}: {tool} not found on PATH (install it to flash)")
    return exe


def esp_images(image: Path) -> list[str]:
    """`offset file` pairs: an ESP-IDF build dir's flasher_args.json, or one merged image."""
    if not image.is_dir():
        return [ESP_MERGED_OFFSET, str(image)]
    args = image / "flasher_args.json"
    try:
        files = json.loads(args.read_text())["flash_files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise FlashError(f"{args}: missing or without flash_files (build with idf.py)") from None
    pairs = sorted(files.items(), key=lambda kv: int(kv[0], 16))
    return [item for off, name in pairs for item in (off, str(image / name))]


def esptool_cmd(facts: dict[str, Any], port: str, image: Path, baud: int, tool: str) -> list[str]:
    return [
        tool,
        "--port",
        port,
        "--baud",
        str(baud),
        *map(str, facts["flash_args"]),
        *esp_images(image),
    ]


def arduino_cmd(facts: dict[str, Any], port: str, image: Path, tool: str) -> list[str]:
    return [tool, *map(str, facts["flash_args"]), "--port", port, "--input-file", str(image)]


def commands(
    board: str, port: str, image: Path, boards_file: Path = BOARDS_FILE
) -> list[list[str]]:
    """The attempts in order: one per baud for esptool, one for arduino-cli."""
    facts = board_facts(board, boards_file)
    tool = facts["flash_tool"]
    if tool == "esptool":
        bauds = [int(facts["flash_baud"])]
        if facts.get("flash_baud_fallback"):
            bauds.append(int(facts["flash_baud_fallback"]))
        exe = tool_path(board, "esptool")
        return [esptool_cmd(facts, port, image, b, exe) for b in bauds]
    if tool == "arduino-cli":
        return [arduino_cmd(facts, port, image, tool_path(board, "arduino-cli"))]
    raise FlashError(f"hil/boards.yaml: board {board}: unknown flash_tool '{tool}'")


def _reason(text: str) -> str:
    """The tool's own error line (esptool: 'A fatal error occurred: ...'), else its last."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if "error" in ln.lower():
            return ln.split("error occurred: ")[-1].removeprefix("Error: ")
    return lines[-1] if lines else "no output"


def run(cmd: list[str], timeout_s: float) -> tuple[int | None, str]:
    """Exit code (None: hung, killed with its process group after `timeout_s`) and output."""
    log.info("running: %s", shlex.join(cmd))
    try:
        return proc.run(cmd, timeout_s)
    except FileNotFoundError:
        raise FlashError(f"{cmd[0]}: not found (is the flash tool installed?)") from None


def check_image(board: str, image: Path) -> None:
    if not image.exists():
        raise FlashError(
            f"{image}: firmware image not found (build it with `make firmware BOARD={board}`)"
        )


def flash(
    board: str,
    port: str,
    image: Path,
    timeout_s: float | None = None,
    boards_file: Path = BOARDS_FILE,
) -> list[str]:
    """Flash `image`; return the command that succeeded. FlashError when every attempt fails.
    Each attempt is bounded by `timeout_s` (default: the board's flash_timeout_s)."""
    check_image(board, image)
    facts = board_facts(board, boards_file)
    limit = float(timeout_s if timeout_s is not None else facts["flash_timeout_s"])
    attempts = commands(board, port, image, boards_file)
    last = ""
    for i, cmd in enumerate(attempts):
        code, out = run(cmd, limit)
        if code == 0:
            log.info("flashed %s on %s", board, port)
            return cmd
        if code is None:
            last = f"{cmd[0].rsplit('/', 1)[-1]} hung: no result within {limit:g} s (killed)"
        else:
            last = _reason(out)
        log.warning("attempt %d/%d failed (exit %s): %s", i + 1, len(attempts), code, last)
    raise FlashError(f"board {board} on {port} did not take the image: {last}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m hil.flash",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--board", required=True, help="a board of --boards-file (esp32, ...)")
    ap.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    ap.add_argument(
        "--image", type=Path, help="firmware image (default: flash_image in boards.yaml)"
    )
    ap.add_argument(
        "--boards-file", type=Path, default=BOARDS_FILE, help="board facts (%(default)s)"
    )
    ap.add_argument(
        "--lock-timeout",
        type=float,
        default=600.0,
        help="seconds to wait for a busy port (default: %(default)s)",
    )
    args = ap.parse_args(argv)
    facts = board_facts(args.board, args.boards_file)
    image = args.image or Path(facts["flash_image"])
    check_image(args.board, image)
    with PortLock(args.port, f"flash {args.board}", args.lock_timeout):
        flash(args.board, args.port, image, boards_file=args.boards_file)
    return 0


if __name__ == "__main__":
    run_main(main)
