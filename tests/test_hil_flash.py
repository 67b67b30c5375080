"""hil.flash: the commands it builds from hil/boards.yaml, the ESP32 retry at the fallback
baud, and one clear line when a tool is missing or a board does not answer (stub tools on
PATH that behave like esptool / arduino-cli)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hil import flash as flash_mod
from hil.boards import board_facts
from hil.flash import FlashError, flash

ESPTOOL_FAIL = """#!/bin/sh
echo "$@" >> "$STUB_LOG"
echo "esptool v5.6.0"
echo "Connecting......................................"
echo "A fatal error occurred: Failed to connect to ESP32: No serial data received." >&2
exit 2
"""
# fails at the first baud, works at the second (what a long USB cable does)
ESPTOOL_FLAKY = """#!/bin/sh
echo "$@" >> "$STUB_LOG"
case "$*" in *"--baud 921600"*)
  echo "A fatal error occurred: Invalid head of packet (0x00)" >&2; exit 2;;
esac
echo "Hash of data verified."
"""
# hangs, with a helper child in its process group (what esptool stuck on a port looks like)
ESPTOOL_HANG = """#!/bin/sh
PATH=/usr/bin:/bin
echo "$@" >> "$STUB_LOG"
sleep 300 &
echo $! > "$STUB_LOG.child"
echo $$ > "$STUB_LOG.tool"
echo "Connecting...."
wait
"""
ARDUINO_OK = """#!/bin/sh
echo "$@" >> "$STUB_LOG"
echo "New upload port: $4 (serial)"
"""


@pytest.fixture
def tools(tmp_path, monkeypatch):
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))  # only our stubs: nothing else is found
    monkeypatch.setenv("STUB_LOG", str(log))
    image = tmp_path / "merged.bin"
    image.write_bytes(b"\xe9" + b"\0" * 255)

    def install(name: str, script: str) -> None:
        path = bin_dir / name
        path.write_text(script)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)

    def calls() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    return install, calls, image


def test_esptool_retries_once_at_the_fallback_baud_then_fails(tools):
    install, calls, image = tools
    install("esptool", ESPTOOL_FAIL)
    with pytest.raises(FlashError) as err:
        flash("esp32", "/dev/ttyFAKE", image)
    assert str(err.value) == (
        "board esp32 on /dev/ttyFAKE did not take the image: "
        "Failed to connect to ESP32: No serial data received."
    )
    args = " ".join(map(str, board_facts("esp32")["flash_args"]))
    assert calls() == [
        f"--port /dev/ttyFAKE --baud 921600 {args} 0x0 {image}",
        f"--port /dev/ttyFAKE --baud 115200 {args} 0x0 {image}",
    ]


def test_esptool_fallback_baud_succeeds(tools, caplog):
    install, calls, image = tools
    install("esptool", ESPTOOL_FLAKY)
    with caplog.at_level("INFO", logger="hil.flash"):
        cmd = flash("esp32", "/dev/ttyFAKE", image)
    assert cmd[1:5] == ["--port", "/dev/ttyFAKE", "--baud", "115200"]
    assert len(calls()) == 2
    ran = [r.getMessage() for r in caplog.records if r.getMessage().startswith("running: ")]
    assert len(ran) == 2 and ran[1].endswith(f"--baud 115200 {' '.join(cmd[5:])}")


def test_arduino_cli_upload_command(tools):
    install, calls, image = tools
    install("arduino-cli", ARDUINO_OK)
    cmd = flash("nano33ble", "/dev/ttyACM9", image)
    assert cmd[1:] == [
        *("upload", "--fqbn", "arduino:mbed_nano:nano33ble"),
        *("--port", "/dev/ttyACM9", "--input-file", str(image)),
    ]
    assert len(calls()) == 1


def test_esp_idf_build_dir_flashes_each_part_at_its_offset(tools, tmp_path):
    install, _, _ = tools
    install("esptool", ESPTOOL_FLAKY)
    build = tmp_path / "esp32"
    build.mkdir()
    files = {"0x10000": "kws_esp32.bin", "0x1000": "bootloader/bootloader.bin",
             "0x8000": "partition_table/partition-table.bin"}  # fmt: skip
    (build / "flasher_args.json").write_text(json.dumps({"flash_files": files}))
    cmd = flash("esp32", "/dev/ttyFAKE", build)
    assert cmd[-6:] == [
        *("0x1000", str(build / "bootloader/bootloader.bin")),
        *("0x8000", str(build / "partition_table/partition-table.bin")),
        *("0x10000", str(build / "kws_esp32.bin")),
    ]
    (build / "flasher_args.json").unlink()
    with pytest.raises(FlashError, match=r"flasher_args\.json: missing or without flash_files"):
        flash("esp32", "/dev/ttyFAKE", build)


@pytest.mark.parametrize(("board", "tool"), [("esp32", "esptool"), ("nano33ble", "arduino-cli")])
def test_missing_tool_is_one_line(tools, board, tool):
    _, calls, image = tools
    with pytest.raises(FlashError, match=rf"^board {board}: {tool} not found on PATH \(install"):
        flash(board, "/dev/ttyFAKE", image)
    assert calls() == []


@pytest.mark.parametrize("board", ["esp32", "nano33ble"])
def test_missing_image_names_the_command_that_builds_it(tools, tmp_path, board):
    install, calls, _ = tools
    install("esptool", ESPTOOL_FAIL)
    with pytest.raises(FlashError) as err:
        flash(board, "/dev/ttyFAKE", tmp_path / "none.bin")
    assert str(err.value) == (
        f"{tmp_path / 'none.bin'}: firmware image not found "
        f"(build it with `make firmware BOARD={board}`)"
    )
    assert calls() == []


def _gone(pid: int) -> bool:
    """The process no longer exists (or is a zombie nobody reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def test_hanging_tool_is_killed_with_its_children(tools, tmp_path):
    install, calls, image = tools
    install("esptool", ESPTOOL_HANG)
    t = time.monotonic()
    with pytest.raises(FlashError) as err:
        flash("esp32", "/dev/ttyFAKE", image, timeout_s=1.0)
    took = time.monotonic() - t
    assert str(err.value) == (
        "board esp32 on /dev/ttyFAKE did not take the image: "
        "esptool hung: no result within 1 s (killed)"
    )
    assert len(calls()) == 2  # each baud got its bounded attempt
    assert took < 2 * (1.0 + 5.0) + 5  # two attempts, each timeout + SIGTERM grace at most
    log = Path(os.environ["STUB_LOG"])
    tool, child = int(Path(f"{log}.tool").read_text()), int(Path(f"{log}.child").read_text())
    deadline = time.monotonic() + 5
    while not (_gone(tool) and _gone(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(tool), "the flash tool survived"
    assert _gone(child), "the flash tool's child (same process group) survived"


def test_attempt_bound_defaults_to_the_boards_flash_timeout(tools, monkeypatch):
    install, _, image = tools
    install("esptool", ESPTOOL_HANG)
    facts = {**board_facts("esp32"), "flash_timeout_s": 1, "flash_baud_fallback": None}
    facts.pop("flash_baud_fallback")
    monkeypatch.setattr(flash_mod, "board_facts", lambda board, path=None: facts)
    t = time.monotonic()
    with pytest.raises(FlashError, match=r"esptool hung: no result within 1 s \(killed\)$"):
        flash("esp32", "/dev/ttyFAKE", image)
    assert time.monotonic() - t < 1.0 + 5.0 + 3


def test_cli_exit_code_and_single_error_line(tools, tmp_path):
    install, _, image = tools
    install("esptool", ESPTOOL_FAIL)
    env = {**os.environ, "KWS_HIL_LOCK_DIR": str(tmp_path / "locks")}
    p = subprocess.run(
        [sys.executable, "-m", "hil.flash", "--board", "esp32", "--port", "/dev/ttyFAKE",
         "--image", str(image)],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert p.returncode == 1
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [
        "error: board esp32 on /dev/ttyFAKE did not take the image: "
        "Failed to connect to ESP32: No serial data received."
    ]
    assert "Traceback" not in p.stderr
    assert p.stderr.count("running: ") == 2
