"""The search's emulated instruction count (`make search SEARCH_EMULATE=1`,
ml/search_emulate.py): a model exported by ml.export, linked into the emulated Cortex-M4
image in an existing build dir and benchmarked under QEMU -icount gives the same instruction
count as the image `make m4-board` built for the same model.

Run by `make hil-qemu` after the M4 images are built (not named test_*.py, so `make pytest`,
which may run before any M4 build, does not collect it). It rebuilds build/firmware/m4's
kws_m4_board with the exported copy, then links it back with the original generated dir."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hil.virtual.qemu import M4_BOARD, QEMU, image_facts
from ml.search_emulate import bench, build, emulate, missing_tools

REPO = Path(__file__).resolve().parents[1]
THIRD_PARTY = REPO / "build/third_party"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(QEMU) is None, reason=f"needs {QEMU} (make apt)"),
]


@pytest.fixture(scope="module")
def pipeline() -> Path:
    """The pipeline dir of the model the image carries (build/tiny in make test)."""
    if not M4_BOARD.is_file():
        pytest.fail(f"{M4_BOARD}: missing: run `make m4-board` (make hil-qemu does)")
    why = missing_tools(THIRD_PARTY)
    if why:
        pytest.fail(why)
    return Path(image_facts(M4_BOARD)["model_settings"]).parents[2]


def test_emulated_count_matches_the_make_built_image(pipeline: Path, tmp_path: Path) -> None:
    gen, vec = pipeline / "firmware/generated", pipeline / "hil/vectors"
    before = bench(M4_BOARD, gen, vec, "nano33ble", n=5, warmup=1)
    try:
        got = emulate(pipeline, tmp_path / "work", M4_BOARD.parent, third_party=THIRD_PARTY, n=5)
    finally:  # link the image back with the generated dir `make m4-board` gave it
        build(gen, M4_BOARD.parent, "nano33ble", THIRD_PARTY)
    assert (tmp_path / "work/generated/model_data.cc").read_bytes() == (
        gen / "model_data.cc"
    ).read_bytes()  # ml.export is deterministic: the same model went in
    assert got["board"] == "nano33ble" and got["inferences"] == 5
    assert got["instructions_per_inference"] > 10_000
    # -icount: the same code and model execute the same instructions (to one microsecond of
    # the 64 MHz clock, the bench's resolution)
    assert abs(got["instructions_per_inference"] - before["instructions_per_inference"]) <= 64


def test_missing_tflm_tree_is_named(tmp_path: Path) -> None:
    why = missing_tools(tmp_path / "no-third-party")
    assert why is not None and "tree-m4" in why and "make tflm-sources-m4" in why
