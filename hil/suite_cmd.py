"""The one pytest command line of the HIL suites, for every caller: `make hil` (hil.run_board),
the virtual boards (hil.run_virtual) and a release's deploy (hil.deploy)."""

from __future__ import annotations

import sys
from pathlib import Path

SUITES = {
    "smoke": ["hil/test_smoke.py"],
    "acceptance": ["hil/test_acceptance.py"],
    "all": ["hil"],
}


def pytest_cmd(
    board: str,
    port: str,
    *,
    settings: Path,
    vectors: Path,
    results: Path,
    params: Path,
    timeout_s: float | None = None,
    suite: str = "all",
) -> list[str]:
    """The suites' pytest command; `timeout_s`: pytest-timeout's bound on each test; `suite`:
    one of SUITES (its JUnit file is junit.xml for all, junit-<suite>.xml otherwise)."""
    bound = ["--timeout", f"{timeout_s:g}"] if timeout_s else []
    junit = "junit.xml" if suite == "all" else f"junit-{suite}.xml"
    return [
        sys.executable, "-m", "pytest", *SUITES[suite], "-q", "-p", "no:cacheprovider",
        "-o", "junit_family=xunit1", "--embedded-services", "serial",
        "--port", port, "--board", board, "--settings", str(settings),
        "--vectors", str(vectors), "--results", str(results), "--params", str(params),
        "-W", "ignore::pytest.PytestExperimentalApiWarning",
        "-p", "tests.ci_skips",  # CI=true: only hardware/toolchain skips pass
        "--junitxml", str(results / board / junit), *bound,
    ]  # fmt: skip
