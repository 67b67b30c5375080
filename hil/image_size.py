"""`python -m hil.image_size ELF`: the whole emulated Cortex-M4 board image's text, data and
bss (arm-none-eabi-size) against the flash and RAM budgets of the board it was built as
(hil/boards.yaml, through the image's kws_m4_board.json). Flash holds text + data (.data's
load image); RAM holds data + bss (bss includes the image's fixed stack reservation)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from hil.virtual.qemu import image_facts
from ml.errors import KwsError, run_main

SIZE = "arm-none-eabi-size"


def sections(elf: Path) -> tuple[int, int, int]:
    """(text, data, bss) in bytes, Berkeley format."""
    if shutil.which(SIZE) is None:
        raise KwsError(f"{SIZE}: not installed (make apt installs gcc-arm-none-eabi)")
    out = subprocess.run([SIZE, str(elf)], capture_output=True, text=True, check=False)
    lines = out.stdout.splitlines()
    if out.returncode != 0 or len(lines) < 2:
        raise KwsError(f"{elf}: {SIZE} failed ({out.stderr.strip() or 'no output'})")
    text, data, bss = (int(v) for v in lines[1].split()[:3])
    return text, data, bss


def image_report(elf: Path) -> str:
    facts = image_facts(elf)
    text, data, bss = sections(elf)
    flash, ram = facts["flash_budget_bytes"], facts["ram_budget_bytes"]
    return (
        f"image {elf} ({facts['board']} budgets, hil/boards.yaml): text={text:,} data={data:,} "
        f"bss={bss:,} B\n"
        f"  flash text+data {text + data:,} of {flash:,} B ({(text + data) / flash:.1%}); "
        f"RAM data+bss {data + bss:,} of {ram:,} B ({(data + bss) / ram:.1%}, stack included)"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise KwsError("usage: python -m hil.image_size ELF")
    elf = Path(argv[0])
    if not elf.is_file():
        raise KwsError(f"{elf}: missing (run `make m4-board`)")
    print(image_report(elf))
    return 0


if __name__ == "__main__":
    run_main(main)
