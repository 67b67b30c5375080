"""The emulated Cortex-M4 board: the firmware image `kws_m4_board` (firmware/m4/board.cc:
core + TFLM glue + TFLM's CMSIS-NN kernels + the generated model, linked into the board's
flash and RAM budgets) under `qemu-system-arm -M mps2-an386`, its UART0 on a host pty.

QEMU runs with `-icount shift=S` (S from the image's kws_m4_board.json, written at configure
time by hil/memory_map.py): every instruction advances virtual time by 2^S ns, so the image
counts instructions and reports `latency=emulated`. The image carries its own model, so the
settings given here must describe that model (its sha256 is checked before QEMU starts).
Same interface as HostBoard (port, proc, start, spawn, adopt, stop): the fault relay and
the launchers drive either.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hil import proc as bounded
from hil.boards import BOARDS_FILE, board_facts
from hil.virtual.board import REPO, BoardProcess, read_settings
from ml.errors import KwsError

log = logging.getLogger(__name__)

M4_BOARD = REPO / "build/firmware/m4/kws_m4_board"
QEMU = "qemu-system-arm"
START_TIMEOUT_S = 30.0
KIND_CHOICES = ("host", "qemu")  # python -m hil.virtual / hil.run_virtual --kind
_PTY = re.compile(r"char device redirected to (\S+)")


def m4_image(plant: str | None = None) -> Path:
    """`kws_m4_board` (KWS_M4_BOARD_IMAGE overrides), or a one-line error naming the build;
    `plant`: the test image with a one-value error (kws_m4_board_plant_<frontend|output>)."""
    path = Path(os.environ.get("KWS_M4_BOARD_IMAGE") or M4_BOARD)
    if plant:
        path = path.with_name(f"{path.name}_plant_{plant}")
    if not path.is_file():
        raise KwsError(f"{path}: emulated board image not built (run `make m4-board`)")
    return path


def image_facts(image: Path) -> dict[str, Any]:
    """The facts the image was built with (m4board/kws_m4_board.json next to it)."""
    path = image.parent / "m4board" / "kws_m4_board.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise KwsError(f"{path}: missing or unreadable (rebuild with `make m4-board`)") from None


def qemu_cmd(image: Path, icount_shift: int) -> list[str]:
    return [
        QEMU, "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "pty",
        "-icount", f"shift={icount_shift},sleep=on",
        "-semihosting-config", "enable=on,target=native", "-kernel", str(image),
    ]  # fmt: skip


class QemuBoard(BoardProcess):
    """One QEMU process running the image; `port` is its UART's pty."""

    def __init__(
        self,
        board: str,
        settings_path: Path,
        *,
        plant: str | None = None,
        boards_file: Path = BOARDS_FILE,
    ) -> None:
        board_facts(board, boards_file)  # unknown board: one line naming the choices
        if shutil.which(QEMU) is None:
            raise KwsError(f"{QEMU}: not installed (make apt installs qemu-system-arm)")
        image = m4_image(plant)
        facts = image_facts(image)
        if facts.get("board") != board:
            raise KwsError(
                f"{image}: built for board '{facts.get('board')}', not '{board}' "
                "(the emulated Cortex-M4 is budgeted as the board it was configured for)"
            )
        want = str((read_settings(settings_path).get("model") or {}).get("sha256", ""))
        got = str(facts.get("model_sha256", ""))
        if want and got and want != got:
            raise KwsError(
                f"{image}: carries model {got[:12]}, but {settings_path} describes "
                f"{want[:12]} (rebuild with `make m4-board`)"
            )
        self.board = board
        self.icount_shift = int(facts["icount_shift"])
        self.cmd = qemu_cmd(image, self.icount_shift)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = ""
        self._held: dict[int, int] = {}  # QEMU's pid -> our fd on its pty (spawn)
        self.start()

    def spawn(self) -> tuple[subprocess.Popen[bytes], str]:
        proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        first = bounded.first_line(proc, START_TIMEOUT_S)
        m = _PTY.search(first)
        if not m:
            bounded.stop(proc, grace_s=2.0)
            raise KwsError(f"emulated {self.board}: QEMU did not open a pty ({first.strip()!r})")
        # QEMU's pty backend drops the UART's output and stops reading its input while no
        # process has the pty open, and notices an opener only when the guest writes or once
        # a second. Held open from boot, the board's banner waits in the pty (as a host
        # board's does, so a power cycle onto this instance shows it) and a relay or client
        # opening later is read at once, not up to 1 s late.
        self._held[proc.pid] = os.open(m.group(1), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        return proc, m.group(1)

    def stop(self) -> None:
        super().stop()
        if self.proc is not None and self.proc.pid in self._held:
            os.close(self._held.pop(self.proc.pid))
