"""HIL suites: `pytest hil --embedded-services serial --port PORT --board B`.

The same files run against a real board and a virtual one (python -m hil.virtual). This
conftest loads the board's facts, the golden vectors, the model settings and params, holds
the per-port lock for the session (or works under the lock of the `make hil` process that
started it, which also held it while flashing), and writes JUnit XML + metrics JSON to
hil/results/<board>/. Figures a virtual board estimates are recorded as estimated.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hil.boards import board_facts
from hil.client import Client
from hil.lock import PortLock
from hil.metrics import write_metrics
from hil.suite import Hil
from ml.params import load_params

RESULTS = Path("hil/results")


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("kws-hil")
    g.addoption("--board", help="board type in hil/boards.yaml (esp32, nano33ble)")
    g.addoption("--vectors", default="hil/vectors", help="golden vectors dir (ml.export)")
    g.addoption(
        "--settings",
        default=None,
        help="model_settings.json (default: firmware/generated/model_settings.json)",
    )
    g.addoption("--params", default="params.yaml", help="params.yaml with the hil gates")
    g.addoption("--results", default=str(RESULTS), help="results root (<root>/<board>/)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    board = config.getoption("board", None)
    if board and not config.option.xmlpath:
        config.option.xmlpath = str(Path(config.getoption("results")) / board / "junit.xml")


def _missing(path: Path) -> None:
    if not path.is_file():
        pytest.exit(f"error: {path}: missing (run `make tiny` or the pipeline's export)", 2)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    _missing(path)
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _load_json(path: Path) -> dict[str, Any]:
    _missing(path)
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def hil(request: pytest.FixtureRequest) -> Iterator[Hil]:
    opt = request.config.getoption
    board, port = opt("board"), opt("port")
    if not board or not port:
        pytest.skip("needs a board attached: --board and --port (a real or virtual board)")
    vectors = Path(opt("vectors"))
    settings_path = Path(opt("settings") or "firmware/generated/model_settings.json")
    ctx = Hil(
        board=board,
        port=port,
        facts=board_facts(board),
        params=load_params(opt("params")),
        settings=_load_json(settings_path),
        manifest=_load_json(vectors / "manifest.json"),
        features=_load_npz(vectors / "features.npz"),
        audio=_load_npz(vectors / "audio.npz"),
        results=Path(opt("results")) / board,
    )
    yield ctx
    if ctx.metrics:
        write_metrics(ctx.results / "metrics.json", ctx.metrics)


@pytest.fixture(scope="session")
def port_lock(hil: Hil, request: pytest.FixtureRequest) -> Iterator[PortLock]:
    """One job per board for the whole session; the OS frees it if this process dies."""
    lock = PortLock(hil.port, request.node.nodeid or "hil", hil.params["hil"]["lock_timeout_s"])
    with lock:
        yield lock


@pytest.fixture(autouse=True)
def _name_holder(request: pytest.FixtureRequest) -> None:
    if "hil" in request.fixturenames:
        request.getfixturevalue("port_lock").set_test(request.node.nodeid)


def _client(dut: Any, hil: Hil) -> Client:
    return Client(
        hil.port,
        timeout_s=hil.params["hil"]["command_timeout_s"],
        baud=int(hil.facts["baud"]),
        stream=dut.serial.proc,
        name=hil.board,
    )


@pytest.fixture
def client(dut: Any, hil: Hil, port_lock: PortLock) -> Iterator[Client]:
    """The protocol client on pytest-embedded's own port (its reader thread paused),
    resynchronized (a bare newline, then `id`) before the test's first command."""
    with dut.serial.disable_redirect_thread():
        c = _client(dut, hil)
        c.sync()
        yield c
        dut.serial.proc = c.stream  # a reconnect replaced the port object


@pytest.fixture
def synced_dut(dut: Any, hil: Hil, port_lock: PortLock) -> Any:
    """pytest-embedded's dut for `dut.write`/`dut.expect` tests, after the same resync as
    `client`: a board left mid-line by a flash tool must not swallow the first command."""
    with dut.serial.disable_redirect_thread():
        c = _client(dut, hil)
        c.sync()
        dut.serial.proc = c.stream
    return dut


@pytest.fixture
def is_virtual(client: Client) -> bool:
    """Host boards report estimated latency and emulated ones emulated; real ones measure it."""
    return client.identity()["latency"] in ("estimated", "emulated")
