"""Shared fixtures live in small plugin modules, one per part of the system."""

pytest_plugins = [
    "tests.fixtures_data",  # tiny generated dataset
    "tests.fixtures_pipeline",  # tiny pipeline run: features ... export
    "tests.ci_skips",  # CI=true: a skip fails unless it needs hardware or a toolchain
]
