"""A virtual board that can be flashed: its "flash memory" is a folder, its port a stable path.

    python -m hil.virtual.slot serve --dir build/vboards/esp32 --board esp32 [--settings S]
    python -m hil.virtual.slot flash --port build/vboards/esp32/port --settings S [--model M]
    python -m hil.virtual.slot stop --dir build/vboards/esp32

Slot folder layout:
- `slot.json`: board type, generation (flash count), flashed model sha256, supervisor pid;
- `flash/`: the flashed image (model_settings.json + the .tflite it names);
- `port`: a symlink to the running board's pty. Workflows get this path as the runner's port
  variable, so the path stays the same when the board reboots on a new pty.

`serve` powers the board (`python -m hil.virtual` on the flashed image) and keeps it up until
SIGTERM; on SIGHUP it reboots it from `flash/` (what `flash` sends after writing the image).
`flash` writes the image atomically (a half-written image is never booted), checks the
.tflite against the sha256 in its settings, and waits for the reboot when the board is
powered. After a flash, `id` answers the new model's sha256: the board boots from the image.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hil import proc as bounded
from hil.boards import board_facts
from hil.virtual.image import FLASH_DIR, image_files, write_image
from ml.errors import KwsError, run_main
from ml.fsutil import write_json_atomic

log = logging.getLogger("hil.virtual.slot")
SLOT_FILE = "slot.json"
PORT_LINK = "port"
REBOOT_TIMEOUT_S = 180.0


class SlotError(KwsError):
    """Not a virtual board slot, or an image that cannot be flashed."""


def slot_of_port(port: str | Path) -> Path | None:
    """The slot folder when `port` is a virtual board's port path, else None (a real port)."""
    p = Path(port)
    if p.name == PORT_LINK and (p.parent / SLOT_FILE).is_file():
        return p.parent
    return None


def read_state(slot: Path) -> dict[str, Any]:
    try:
        state = json.loads((slot / SLOT_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        raise SlotError(f"{slot}/{SLOT_FILE}: not a virtual board slot") from None
    if not isinstance(state, dict) or "board" not in state:
        raise SlotError(f"{slot}/{SLOT_FILE}: not a virtual board slot")
    return state


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def flash(port: str | Path, settings: Path | None, model: Path | None = None) -> str:
    """Flash a virtual board through its port path (settings None: erase it); reboot it if
    it is powered."""
    slot = slot_of_port(port)
    if slot is None:
        raise SlotError(f"{port}: not a virtual board port (expected <slot>/{PORT_LINK})")
    state = read_state(slot)
    sha = erase(slot) if settings is None else write_image(slot, settings, model)
    pid = state.get("pid")
    if not _alive(pid):
        log.info("virtual %s (%s): image written, board not powered", state["board"], slot)
        return sha
    before = int(state.get("generation", 0))
    os.kill(int(pid), signal.SIGHUP)
    end = time.monotonic() + REBOOT_TIMEOUT_S
    while time.monotonic() < end:
        now = read_state(slot)
        if int(now.get("generation", 0)) > before and now.get("sha256") == sha:
            log.info("virtual %s flashed with %s, rebooted", state["board"], sha[:12])
            return sha
        if not _alive(pid):
            raise SlotError(f"virtual {state['board']} ({slot}): board died while rebooting")
        time.sleep(0.1)
    raise SlotError(f"virtual {state['board']} ({slot}): no reboot within {REBOOT_TIMEOUT_S:.0f} s")


def erase(slot: Path) -> str:
    """An erased flash: a blob of 0xff that no firmware boots (the board stays in safe mode
    and `id` reports the blob's sha256), as on a board fresh from the factory."""
    blob = b"\xff" * 4096
    sha = hashlib.sha256(blob).hexdigest()
    tmp = slot / f"{FLASH_DIR}.erase"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "erased.bin").write_bytes(blob)
    (tmp / "model_settings.json").write_text(
        json.dumps({"schema": 0, "model": {"file": "erased.bin", "sha256": sha}}) + "\n"
    )
    write_image(slot, tmp / "model_settings.json")
    shutil.rmtree(tmp, ignore_errors=True)
    return sha


def _link(slot: Path, target: str) -> None:
    tmp = slot / f".{PORT_LINK}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    tmp.replace(slot / PORT_LINK)


def serve(
    slot: Path, board: str, settings: Path | None, extra: list[str], erased: bool = False
) -> int:
    """Power the board from `slot/flash` until SIGTERM; reboot on SIGHUP."""
    from hil.run_virtual import VirtualBoard

    board_facts(board)
    slot.mkdir(parents=True, exist_ok=True)
    if not (slot / FLASH_DIR).is_dir():
        if settings is not None:
            write_image(slot, settings)
        elif erased:
            erase(slot)
    image = slot / FLASH_DIR / "model_settings.json"
    if not image.is_file():
        raise SlotError(f"{slot}: nothing flashed yet (pass --settings)")
    state: dict[str, Any] = {"board": board, "generation": 0, "pid": os.getpid()}
    if (slot / SLOT_FILE).is_file():
        old = read_state(slot)
        if old["board"] != board:
            raise SlotError(f"{slot}: holds a {old['board']} board, not {board}")
        state["generation"] = int(old.get("generation", 0))
    reboot = {"wanted": False}

    def on_hup(_s: int, _f: object) -> None:
        reboot["wanted"] = True

    def on_term(_s: int, _f: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    vb = None
    try:
        while True:
            sha = image_files(image)[0]["model"]["sha256"]
            vb = VirtualBoard(board, image, extra)
            _link(slot, vb.port)
            state.update(sha256=sha, port=vb.port, generation=state["generation"] + 1)
            write_json_atomic(slot / SLOT_FILE, state)
            print(f"PORT {slot / PORT_LINK}", flush=True)
            log.info("virtual %s up on %s (model %s)", board, vb.port, sha[:12])
            while not reboot["wanted"]:
                if vb.proc.poll() is not None:
                    raise SlotError(f"virtual {board} ({slot}): board exited")
                time.sleep(0.1)
            reboot["wanted"] = False
            vb.stop()
    finally:
        if vb is not None:
            vb.stop()
        (slot / PORT_LINK).unlink(missing_ok=True)
        state["pid"] = None
        write_json_atomic(slot / SLOT_FILE, state)


@contextmanager
def powered(slot: Path, board: str, cwd: Path | None = None) -> Iterator[str]:
    """Power the slot's board (`serve`) for the block; yields its port path. On leaving, the
    supervisor and its board are stopped as one process group."""
    cmd = [sys.executable, "-m", "hil.virtual.slot", "serve", "--dir", str(slot), "--board", board]
    if not (slot / FLASH_DIR).is_dir():
        cmd.append("--erased")  # a new board: nothing flashed yet
    proc = bounded.start(cmd, cwd=cwd, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()  # EOF if serve fails: no hang
        if not line.startswith("PORT "):
            raise SlotError(f"virtual {board} ({slot}): did not power up")
        yield line.split(" ", 1)[1]
    finally:
        bounded.kill_group(proc)


def identify(slot: Path) -> str:
    """The `m-id` fields of the slot's board; a board that is off is powered for the query."""
    from contextlib import nullcontext

    from hil.client import Client

    state = read_state(slot)
    off = not _alive(state.get("pid"))
    with powered(slot, state["board"]) if off else nullcontext(str(slot / PORT_LINK)):
        c = Client(str(slot / PORT_LINK), timeout_s=10.0, name=state["board"])
        try:
            ident = c.sync()
        finally:
            c.close()
    return " ".join(f"{k}={v}" for k, v in ident.items())


def stop(slot: Path) -> None:
    pid = read_state(slot).get("pid")
    if _alive(pid):
        os.kill(int(pid), signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.virtual.slot", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="power the board until SIGTERM")
    s.add_argument("--dir", type=Path, required=True)
    s.add_argument("--board", required=True)
    s.add_argument("--settings", type=Path, help="image to flash first when the slot is empty")
    s.add_argument("--erased", action="store_true", help="start erased when the slot is empty")
    f = sub.add_parser("flash", help="flash an image (reboots a powered board)")
    f.add_argument("--port", required=True)
    f.add_argument("--settings", type=Path)
    f.add_argument("--model", type=Path)
    f.add_argument("--erase", action="store_true", help="erase instead of flashing --settings")
    t = sub.add_parser("stop", help="power the board off")
    t.add_argument("--dir", type=Path, required=True)
    i = sub.add_parser("id", help="print the board's identity (powers it up for the query)")
    i.add_argument("--dir", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.cmd == "id":
        print(identify(args.dir))
        return 0
    if args.cmd == "serve":
        return serve(args.dir, args.board, args.settings, [], args.erased)
    if args.cmd == "flash":
        if (args.settings is None) == (not args.erase):
            raise SlotError("flash: pass --settings (an image) or --erase")
        print(flash(args.port, None if args.erase else args.settings, args.model))
        return 0
    stop(args.dir)
    return 0


if __name__ == "__main__":
    run_main(main)
