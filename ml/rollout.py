"""Put a release bundle on the boards of a stage: flash each board of the runner, check that
its `id` reports the released model, run the stage's suite (staging: acceptance, production:
smoke), then move the stage's MLflow alias. Ports come from HIL_PORT_<STAGE>_<BOARD> (else
HIL_PORT_<BOARD>); `make release` powers virtual boards and points those variables at them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from hil.boards import board_names
from ml.bundle import ReleaseError, board_image, unpack, verify_sums

STAGES = {"staging": "acceptance", "production": "smoke"}
VBOARDS = Path(os.environ.get("KWS_VBOARDS_DIR") or "build/vboards")


def port_var(board: str, stage: str | None = None) -> str:
    return f"HIL_PORT_{stage.upper()}_{board.upper()}" if stage else f"HIL_PORT_{board.upper()}"


def board_port(board: str, stage: str) -> str:
    """The runner's port for a board of `stage`: HIL_PORT_<STAGE>_<BOARD>, else HIL_PORT_<BOARD>."""
    return os.environ.get(port_var(board, stage)) or os.environ.get(port_var(board)) or ""


def deploy(bundle: Path, stage: str, results: Path) -> None:
    from hil import deploy as hd

    info = verify_sums(bundle)
    files = unpack(bundle, bundle.parent / f".deploy-{stage}")
    suite = STAGES[stage]
    ports = {b: board_port(b, stage) for b in info["boards"]}
    missing = [port_var(b, stage) for b, p in ports.items() if not p]
    if missing:
        raise ReleaseError(f"{stage}: runner has no port for {', '.join(missing)}")
    for board, port in ports.items():
        hd.flash(board, port, files["settings"], board_image(board, files["images"]))
        hd.check_id(board, port, info["model_sha256"])
        rc = hd.suite(
            board,
            port,
            suite,
            settings=files["settings"],
            vectors=files["vectors"],
            params=bundle / "params.yaml",
            results=results,
        )
        if rc != 0:
            raise ReleaseError(f"{stage}: board {board} on {port}: {suite} suite failed")
        hd.check_id(board, port, info["model_sha256"])
    from ml import registry

    registry.move_alias(stage, int(info["mlflow"]["version"]), info["model_sha256"])
    line = (
        f"{stage}: {info['tag']} on {', '.join(ports)} ({suite} passed); MLflow alias "
        f"{stage} -> version {info['mlflow']['version']} (model {info['model_sha256'][:12]})"
    )
    print(line)
    summary(f"### {stage}\n\n{line}\n")


def summary(markdown: str) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a") as f:
            f.write(markdown + "\n")


def start_boards(stage: str, stack: ExitStack) -> list[str]:
    """Power one virtual board per type for `stage` (slots under build/vboards/)."""
    from hil.virtual.slot import powered

    boards = board_names()
    for b in boards:
        stack.enter_context(powered(VBOARDS / f"{stage}-{b}", b))
    return boards


@contextmanager
def virtual_ports(stage: str, boards: list[str]) -> Iterator[None]:
    """HIL_PORT_<STAGE>_<BOARD> of the virtual boards, for the time of a deploy."""
    from hil.virtual.slot import PORT_LINK

    names = {port_var(b, stage): str(VBOARDS / f"{stage}-{b}" / PORT_LINK) for b in boards}
    old = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
