"""`python -m hil.flash --board esp32|nano33ble --port PORT [--image PATH]`: put the firmware
on a real board with the board's own tool (hil/boards.yaml: flash_tool, flash_args).

- ESP32: esptool at `flash_baud`, retried once at `flash_baud_fallback` (long or cheap USB
  cables often fail at 921600 but work at 115200).
- Nano 33 BLE: `arduino-cli upload --fqbn ... --port PORT --input-file BIN`.
The exact command is logged before it runs; a missing tool or a board that does not answer
is one line and a non-zero exit. The port lock keeps a test job off the board meanwhile.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hil.boards import board_facts, board_names
from hil.lock import PortLock
from ml.errors import KwsError, run_main

log = logging.getLogger("hil.flash")

ESP_MERGED_OFFSET = "0x0"
FLASH_TIMEOUT_S = 300.0


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


def commands(board: str, port: str, image: Path) -> list[list[str]]:
    """The attempts in order: one per baud for esptool, one for arduino-cli."""
    facts = board_facts(board)
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


def run(cmd: list[str], timeout_s: float = FLASH_TIMEOUT_S) -> subprocess.CompletedProcess:
    log.info("running: %s", shlex.join(cmd))
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError:
        raise FlashError(f"{cmd[0]}: not found (is the flash tool installed?)") from None
    except subprocess.TimeoutExpired:
        raise FlashError(f"{shlex.join(cmd[:3])}...: no result within {timeout_s:g} s") from None


def flash(board: str, port: str, image: Path, timeout_s: float = FLASH_TIMEOUT_S) -> list[str]:
    """Flash `image`; return the command that succeeded. FlashError when every attempt fails."""
    if not image.exists():
        raise FlashError(f"{image}: firmware image not found (build the firmware first)")
    attempts = commands(board, port, image)
    last = ""
    for i, cmd in enumerate(attempts):
        done = run(cmd, timeout_s)
        if done.returncode == 0:
            log.info("flashed %s on %s", board, port)
            return cmd
        last = _reason(done.stderr + done.stdout)
        log.warning(
            "attempt %d/%d failed (exit %d): %s", i + 1, len(attempts), done.returncode, last
        )
    raise FlashError(f"board {board} on {port} did not take the image: {last}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m hil.flash",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--board", required=True, help=f"one of {', '.join(board_names())}")
    ap.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    ap.add_argument(
        "--image", type=Path, help="firmware image (default: flash_image in boards.yaml)"
    )
    ap.add_argument(
        "--lock-timeout",
        type=float,
        default=600.0,
        help="seconds to wait for a busy port (default: %(default)s)",
    )
    args = ap.parse_args(argv)
    facts = board_facts(args.board)
    image = args.image or Path(str(facts.get("flash_image", "-")))
    with PortLock(args.port, f"flash {args.board}", args.lock_timeout):
        flash(args.board, args.port, image)
    return 0


if __name__ == "__main__":
    run_main(main)
