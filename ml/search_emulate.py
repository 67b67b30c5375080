"""Instructions per inference of a search candidate on the emulated Cortex-M4 board.

The candidate's int8 model (as `dvc exp run` left it in the workspace) is exported by the
pipeline's own `ml.export`, linked into the emulated board image (firmware/m4: TFLM with
CMSIS-NN, the Nano 33 BLE's flash and RAM map) in one build directory shared by the whole
search (TFLM is compiled once; each candidate recompiles only its model), and benchmarked
under `qemu-system-arm -icount` through the serial protocol's `bench` command, as
`make hil-qemu` does. Under -icount every instruction advances virtual time by a fixed step,
so the board's microseconds at its clock are an instruction count, not a wall time.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from hil import proc
from hil.boards import BOARDS_FILE, board_facts, emulated_instructions
from ml.errors import KwsError
from ml.search_exp import failure_summary

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]  # the firmware sources are this repository's
TOOLS = ("cmake", "arm-none-eabi-gcc", "qemu-system-arm")
BUILD_TIMEOUT_S = 1800.0  # the first build compiles TFLM + CMSIS-NN for M4 (minutes)


class EmulateError(KwsError):
    """The candidate could not be built or run on the emulated board."""


def missing_tools(third_party: Path) -> str | None:
    """Why emulation cannot run here (a missing tool or TFLM tree), or None."""
    for tool in TOOLS:
        if shutil.which(tool) is None:
            return f"{tool} not installed (make apt installs it)"
    if not (third_party / "tree-m4").is_dir():
        return f"{third_party}/tree-m4: no TFLM tree for M4 (make tflm-sources-m4)"
    return None


def _run(cmd: list[str], cwd: Path, what: str, timeout: float) -> None:
    # hil.proc: a build that overruns or is interrupted goes with its compilers
    code, out = proc.run(cmd, timeout, cwd=cwd)
    if code is None:
        raise EmulateError(f"{what}: no result in {timeout:.0f} s")
    if code != 0:
        raise EmulateError(f"{what}: {failure_summary(out, code)}")


def export(root: Path, work: Path) -> tuple[Path, Path]:
    """The workspace's model through `ml.export` into <work>/generated and <work>/vectors."""
    gen, vec = work / "generated", work / "vectors"
    cmd = [
        sys.executable, "-m", "ml.export", "--int8", "build/model/model_int8.tflite",
        "--features", "build/features", "--data", "data/speech_commands",
        "--metrics", "metrics/evaluate.json", "--firmware", str(gen), "--vectors", str(vec),
    ]  # fmt: skip
    _run(cmd, root, "export for the emulated board", 600.0)
    return gen, vec


def build(gen: Path, build_dir: Path, board: str, third_party: Path) -> Path:
    """kws_m4_board linked with the model in `gen` (one build dir: TFLM compiled once)."""
    configure = [  # the same script as make's M4 builds (mk/firmware.mk)
        "bash", str(REPO / "firmware/m4/configure.sh"), str(build_dir), str(gen.resolve()),
        sys.executable, f"-DKWS_THIRD_PARTY={third_party.resolve()}", f"-DKWS_M4_BOARD={board}",
    ]  # fmt: skip
    _run(configure, REPO, f"configure the emulated {board} ({build_dir})", 300.0)
    target = ["cmake", "--build", str(build_dir), "-j2", "--target", "kws_m4_board"]
    _run(target, REPO, f"build the emulated {board} image", BUILD_TIMEOUT_S)
    return build_dir / "kws_m4_board"


def bench(image: Path, gen: Path, vec: Path, board: str, *, n: int, warmup: int) -> dict[str, Any]:
    """`bench n warmup` on the image under QEMU: instructions per inference (mean)."""
    from hil.client import Client
    from hil.run_virtual import VirtualBoard

    clock_hz = float(board_facts(board, BOARDS_FILE)["clock_hz"])
    with np.load(vec / "features.npz") as z:
        x = z["x"][0]
    old = os.environ.get("KWS_M4_BOARD_IMAGE")
    os.environ["KWS_M4_BOARD_IMAGE"] = str(image.resolve())  # the child board process reads it
    try:
        with VirtualBoard(board, gen / "model_settings.json", kind="qemu") as vb:
            client = Client(vb.port, timeout_s=60.0, name=f"emulated {board}")
            try:
                client.sync()  # past the boot banner waiting in the pty (as the suites do)
                client.infer(x)  # bench runs on the last features received
                b = client.bench(n, warmup)
            finally:
                client.close()
    finally:
        if old is None:
            os.environ.pop("KWS_M4_BOARD_IMAGE", None)
        else:
            os.environ["KWS_M4_BOARD_IMAGE"] = old
    if b.get("latency") != "emulated":
        raise EmulateError(f"emulated {board}: bench reported latency={b.get('latency')}")
    mean_us = int(b["mean_us"])
    return {
        "board": board,
        "instructions_per_inference": emulated_instructions(mean_us, clock_hz),
        "mean_us": mean_us,
        "inferences": n,
    }


def emulate(
    root: Path,
    work: Path,
    build_dir: Path,
    *,
    board: str = "nano33ble",
    third_party: Path,
    n: int = 10,
    warmup: int = 2,
) -> dict[str, Any]:
    """Export (in `root`: the pipeline dir whose model it is), build and benchmark the model
    on the emulated board."""
    why = missing_tools(third_party)
    if why:
        raise EmulateError(f"emulated {board}: {why}")
    gen, vec = export(root, work)
    image = build(gen, build_dir.resolve(), board, third_party)
    result = bench(image, gen, vec, board, n=n, warmup=warmup)
    log.info("emulated %s: %s instructions per inference", board,
             f"{result['instructions_per_inference']:,}")  # fmt: skip
    return result
