"""Under `CI=true` a skipped test fails the run unless its reason names one of the
hardware or toolchain needs CI machines cannot have (ALLOWED_SKIPS). Anything else that
would skip (a missing compiler, the mlflow CLI, a dataset) is installed by `make setup`
there, so a skip would only hide a test that did not run."""

from __future__ import annotations

import os

import pytest

# The one list of skips CI accepts: substrings of a skip's reason (case-insensitive).
ALLOWED_SKIPS = ("board attached", "ESP-IDF", "arduino-cli", "Docker")


def ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (file, line, "Skipped: why")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def allowed(reason: str) -> bool:
    return any(a.lower() in reason.lower() for a in ALLOWED_SKIPS)


def _refuse(report: pytest.TestReport | pytest.CollectReport) -> None:
    if ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = skip_reason(report)
        if not allowed(reason):
            report.outcome = "failed"
            report.longrepr = (
                f"skipped under CI=true: {reason!r} is not a hardware/toolchain skip "
                f"(allowed: {', '.join(ALLOWED_SKIPS)}; tests/ci_skips.py)"
            )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    _refuse(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> object:
    outcome = yield
    _refuse(outcome.get_result())
