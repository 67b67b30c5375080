"""The emulated Cortex-M4 board's memory map comes from hil/boards.yaml, and an image that
does not fit fails the link with one line naming the board's budget region
(hil/memory_map.py, firmware/m4/board.ld, firmware/m4/link_check.sh)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hil import memory_map
from hil.boards import BOARDS_FILE
from ml.errors import KwsError

REPO = Path(__file__).resolve().parents[1]
GCC = "arm-none-eabi-gcc"
CPU = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]
needs_gcc = pytest.mark.skipif(
    shutil.which(GCC) is None, reason=f"needs {GCC} (Debian gcc-arm-none-eabi, make apt)"
)

# A stand-in image: the board's vector table and start symbols, and a static arena of N bytes
# (as model_boot_generated.cc declares the model's) plus a const table of M bytes in flash.
IMAGE_C = """
#include <stdint.h>
extern uint32_t __stack_top;
__attribute__((aligned(16))) uint8_t g_arena[{arena}];
const uint8_t g_model[{model}] = {{1}};
void Reset_Handler(void) {{
  g_arena[0] = ((const volatile uint8_t*)g_model)[{model} - 1];
  for (;;) {{}}
}}
__attribute__((section(".isr_vector"), used)) void (*const g_vectors[2])(void) = {{
  (void (*)(void))(&__stack_top), Reset_Handler }};
"""


def generate(tmp: Path, boards_file: Path = BOARDS_FILE) -> dict:
    out = tmp / "m4board"
    args = ["--board", "nano33ble", "--out", str(out), "--icount-shift", "4"]
    memory_map.main([*args, "--boards-file", str(boards_file)])
    return json.loads((out / "kws_m4_board.json").read_text())


def link(
    tmp: Path, arena: int, model: int = 1024, boards: Path = BOARDS_FILE
) -> subprocess.CompletedProcess[str]:
    src = tmp / "image.c"
    src.write_text(IMAGE_C.format(arena=arena, model=model))
    cmd = [GCC, *CPU, "-nostartfiles", "-nostdlib", f"-L{tmp / 'm4board'}",
           f"-T{REPO / 'firmware/m4/board.ld'}", "-Wl,--gc-sections", str(src),
           "-o", str(tmp / "image.elf")]  # fmt: skip
    return subprocess.run(
        ["bash", str(REPO / "firmware/m4/link_check.sh"), "kws_m4_board", str(boards), *cmd],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_memory_regions_are_the_boards_budgets(tmp_path):
    facts = generate(tmp_path)
    want = yaml.safe_load(BOARDS_FILE.read_text())["nano33ble"]
    assert facts["flash_budget_bytes"] == want["flash_budget_bytes"]
    assert facts["ram_budget_bytes"] == want["ram_budget_bytes"]
    ld = (tmp_path / "m4board/kws_m4_memory.ld").read_text()
    flash, ram = want["flash_budget_bytes"], want["ram_budget_bytes"]
    assert f"nano33ble_flash_budget (rx) : ORIGIN = 0x00000000, LENGTH = {flash}" in ld
    assert f"nano33ble_ram_budget (rwx) : ORIGIN = 0x20000000, LENGTH = {ram}" in ld
    header = (tmp_path / "m4board/kws_m4_board.h").read_text()
    assert f"#define KWS_ARENA_BUDGET_BYTES {want['arena_budget_bytes']}u" in header
    assert "#define KWS_ICOUNT_SHIFT 4u" in header


def test_a_budget_qemu_cannot_emulate_is_one_line(tmp_path):
    boards = yaml.safe_load(BOARDS_FILE.read_text())
    boards["nano33ble"]["flash_budget_bytes"] = 8 << 20
    fake = tmp_path / "boards.yaml"
    fake.write_text(yaml.safe_dump(boards))
    with pytest.raises(KwsError, match=r"'flash_budget_bytes' = 8388608 exceeds the emulated"):
        generate(tmp_path, fake)


@needs_gcc
def test_an_image_within_the_budgets_links(tmp_path):
    generate(tmp_path)
    r = link(tmp_path, arena=64 * 1024)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "image.elf").is_file()


@needs_gcc
def test_an_arena_bigger_than_the_ram_budget_fails_the_link_in_one_line(tmp_path):
    facts = generate(tmp_path)
    r = link(tmp_path, arena=facts["ram_budget_bytes"])  # + the stack: does not fit
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(
        f"error: kws_m4_board does not fit its board's budget ({BOARDS_FILE}):"
    )
    assert "nano33ble ram_budget_bytes (region `nano33ble_ram_budget') overflowed by" in lines[0]
    assert "flash" not in lines[0]


@needs_gcc
def test_a_model_bigger_than_the_flash_budget_fails_the_link_in_one_line(tmp_path):
    facts = generate(tmp_path)
    r = link(tmp_path, arena=1024, model=facts["flash_budget_bytes"])
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    region = "nano33ble flash_budget_bytes (region `nano33ble_flash_budget') overflowed by"
    assert region in lines[0]


@needs_gcc
def test_the_memory_map_follows_boards_yaml(tmp_path):
    """One source of truth: a smaller RAM budget in boards.yaml makes the same image fail."""
    generate(tmp_path)
    assert link(tmp_path, arena=60 * 1024).returncode == 0
    boards = yaml.safe_load(BOARDS_FILE.read_text())
    boards["nano33ble"].update(ram_budget_bytes=65536, arena_budget_bytes=32768)
    fake = tmp_path / "boards.yaml"
    fake.write_text(yaml.safe_dump(boards))
    generate(tmp_path, fake)
    r = link(tmp_path, arena=60 * 1024, boards=fake)
    assert r.returncode == 1 and "(region `nano33ble_ram_budget') overflowed by" in r.stderr
    assert f"budget ({fake}): nano33ble ram_budget_bytes" in r.stderr  # the file it came from


@needs_gcc
def test_other_link_errors_pass_through(tmp_path):
    generate(tmp_path)
    (tmp_path / "image.c").write_text("void Reset_Handler(void) { missing(); }\n")
    r = subprocess.run(
        ["bash", str(REPO / "firmware/m4/link_check.sh"), "kws_m4_board", str(BOARDS_FILE),
         GCC, *CPU, "-nostartfiles", "-nostdlib", str(tmp_path / "image.c"),
         "-o", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert r.returncode == 1 and "undefined reference to `missing'" in r.stderr
