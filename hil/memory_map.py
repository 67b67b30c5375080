"""`python -m hil.memory_map --board nano33ble --out DIR`: the emulated Cortex-M4 board's
memory map and compiled-in facts, generated from hil/boards.yaml at CMake configure time
(one source of truth for the budgets the image is linked against):

- DIR/kws_m4_memory.ld: the linker MEMORY regions, FLASH = the board's flash_budget_bytes and
  RAM = its ram_budget_bytes, named after the board so that an image that does not fit fails
  the link with "region `nano33ble_ram_budget' overflowed" (firmware/m4/board.ld);
- DIR/kws_m4_board.h: board name, clock, model and arena budgets, QEMU's icount shift;
- DIR/kws_m4_board.json: the same facts, and the image's model sha256, for the launcher
  (hil/virtual/qemu.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hil.boards import BOARDS_FILE, board_facts
from ml.errors import KwsError, run_main

FLASH_ORIGIN = 0x00000000  # mps2-an386: SSRAM1 (code) at 0, SSRAM2/3 (data) at 0x20000000
RAM_ORIGIN = 0x20000000
QEMU_REGION_BYTES = 4 << 20  # each is 4 MB in QEMU: a bigger budget could not be emulated
MAX_ICOUNT_SHIFT = 10


def region(board: str, kind: str) -> str:
    """The linker region's name: what ld's overflow error prints."""
    return f"{board}_{kind}_budget"


def model_sha256(settings: Path | None) -> str:
    """The generated model's sha256 (model_settings.json), recorded for the launcher."""
    if settings is None:
        return ""
    try:
        return str(json.loads(settings.read_text())["model"]["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        raise KwsError(f"{settings}: no model.sha256 (run ml.export or make tiny)") from None


def facts_for(board: str, boards_file: Path, icount_shift: int) -> dict[str, Any]:
    f = board_facts(board, boards_file)
    if not 0 <= icount_shift <= MAX_ICOUNT_SHIFT:
        raise KwsError(f"--icount-shift must be in [0, {MAX_ICOUNT_SHIFT}], got {icount_shift}")
    for field in ("flash_budget_bytes", "ram_budget_bytes"):
        if f[field] > QEMU_REGION_BYTES:
            raise KwsError(
                f"{boards_file}: board '{board}' field '{field}' = {f[field]} exceeds the "
                f"emulated mps2-an386's {QEMU_REGION_BYTES} bytes"
            )
    return {
        "board": board,
        "boards_file": str(boards_file),
        "clock_hz": int(f["clock_hz"]),
        "flash_budget_bytes": int(f["flash_budget_bytes"]),
        "ram_budget_bytes": int(f["ram_budget_bytes"]),
        "model_budget_bytes": int(f["model_budget_bytes"]),
        "arena_budget_bytes": int(f["arena_budget_bytes"]),
        "baud": int(f["baud"]),
        "icount_shift": icount_shift,
    }


def linker_memory(facts: dict[str, Any]) -> str:
    b = facts["board"]
    return (
        f"/* Generated from {facts['boards_file']} ({b}) by hil/memory_map.py: do not edit. */\n"
        "MEMORY\n{\n"
        f"  {region(b, 'flash')} (rx) : ORIGIN = {FLASH_ORIGIN:#010x}, "
        f"LENGTH = {facts['flash_budget_bytes']}\n"
        f"  {region(b, 'ram')} (rwx) : ORIGIN = {RAM_ORIGIN:#010x}, "
        f"LENGTH = {facts['ram_budget_bytes']}\n"
        "}\n"
        f'REGION_ALIAS("FLASH", {region(b, "flash")});\n'
        f'REGION_ALIAS("RAM", {region(b, "ram")});\n'
    )


def header(facts: dict[str, Any]) -> str:
    return (
        f"// Generated from {facts['boards_file']} ({facts['board']}) by hil/memory_map.py.\n"
        "#ifndef KWS_M4_BOARD_H_\n#define KWS_M4_BOARD_H_\n"
        f'#define KWS_BOARD_NAME "{facts["board"]}"\n'
        f"#define KWS_BOARD_CLOCK_HZ {facts['clock_hz']}u\n"
        f"#define KWS_BOARD_BAUD {facts['baud']}u\n"
        f"#define KWS_MODEL_BUDGET_BYTES {facts['model_budget_bytes']}u\n"
        f"#define KWS_ARENA_BUDGET_BYTES {facts['arena_budget_bytes']}u\n"
        f"#define KWS_ICOUNT_SHIFT {facts['icount_shift']}u\n"
        "#endif  // KWS_M4_BOARD_H_\n"
    )


def write_if_changed(path: Path, text: str) -> None:
    """Keeps the mtime when nothing changed (no needless relink)."""
    if not path.is_file() or path.read_text() != text:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.memory_map", description=__doc__)
    ap.add_argument("--board", required=True)
    ap.add_argument("--out", type=Path, required=True, help="directory for the generated files")
    ap.add_argument("--boards-file", type=Path, default=BOARDS_FILE)
    ap.add_argument("--icount-shift", type=int, required=True, help="QEMU -icount shift")
    ap.add_argument("--model-settings", type=Path, help="the image's model_settings.json")
    args = ap.parse_args(argv)
    facts = facts_for(args.board, args.boards_file, args.icount_shift)
    facts["model_sha256"] = model_sha256(args.model_settings)
    facts["model_settings"] = str(args.model_settings.resolve()) if args.model_settings else ""
    args.out.mkdir(parents=True, exist_ok=True)
    write_if_changed(args.out / "kws_m4_memory.ld", linker_memory(facts))
    write_if_changed(args.out / "kws_m4_board.h", header(facts))
    write_if_changed(args.out / "kws_m4_board.json", json.dumps(facts, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    run_main(main)
