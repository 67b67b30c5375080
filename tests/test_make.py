"""The Makefile as people and CI meet it: help, the toolchain check, the fragment list."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None):
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=cwd,
        env=env or os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_in_a_pipe_has_no_colour_and_follows_the_work() -> None:
    res = make("help")
    assert res.returncode == 0, res.stderr
    assert "\x1b[" not in res.stdout
    headers = [line for line in res.stdout.splitlines() if line and not line.startswith(" ")]
    expected = ["Main job", "Data", "Pipeline", "Firmware", "HIL", "Tests", "Benchmarks", "Setup"]
    assert [h for h in headers if h in expected] == expected
    assert headers[0] == "Main job"
    assert headers[-1] == "Setup"


def test_toolchain_check_names_the_missing_package(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    gxx = fake / "arm-none-eabi-g++"
    gxx.write_text(
        "#!/bin/sh\necho 'check.cc:1:10: fatal error: cstddef: No such file or directory' >&2\n"
        "exit 1\n"
    )
    gxx.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"}
    res = subprocess.run(
        ["bash", str(REPO / "tools/toolchain-check.sh"), str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 1
    assert res.stderr.splitlines() == [
        "error: toolchain-check: arm-none-eabi-g++ has no C++ headers "
        "(Debian package libstdc++-arm-none-eabi-newlib)"
    ]


def test_toolchain_check_passes_here(tmp_path: Path) -> None:
    res = subprocess.run(
        ["bash", str(REPO / "tools/toolchain-check.sh"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("toolchain-check: ")


def test_a_missing_fragment_is_an_error(tmp_path: Path) -> None:
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    shutil.copytree(REPO / "mk", tmp_path / "mk")
    shutil.copytree(REPO / "tools", tmp_path / "tools")
    assert make("-n", "help", cwd=tmp_path).returncode == 0
    (tmp_path / "mk/hil.mk").unlink()
    res = make("-n", "help", cwd=tmp_path)
    assert res.returncode != 0
    assert "mk/hil.mk" in res.stderr


def test_profile_picks_the_model_or_is_a_one_line_error() -> None:
    drop = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PROFILE", "GENERATED_DIR", "VECTORS_DIR"}
    env = {k: v for k, v in os.environ.items() if k not in drop | {"HIL_PARAMS"}}
    tiny = make("-n", "hil-virtual", env=env)
    assert tiny.returncode == 0, tiny.stderr
    assert "-m ml.tiny --out build/tiny" in tiny.stdout  # the default: make tiny first
    tiny_dirs = "--generated build/tiny/firmware/generated --vectors build/tiny/hil/vectors"
    assert tiny_dirs in tiny.stdout
    assert "--params build/tiny/params.yaml" in tiny.stdout
    full = make("-n", "hil-virtual", "PROFILE=full", env=env)
    assert full.returncode == 0, full.stderr
    assert "ml.tiny" not in full.stdout
    assert "--generated firmware/generated --vectors hil/vectors" in full.stdout
    assert "--params params.yaml" in full.stdout
    own = make("-n", "firmware-test", "GENERATED_DIR=build/ci/model/generated", env=env)
    assert own.returncode == 0 and "ml.tiny" not in own.stdout  # CI's model: nothing to build
    for bad in ("huge", "tiny full", ""):
        res = make("-n", "hil-virtual", f"PROFILE={bad}", env=env)
        assert res.returncode != 0
        assert f"PROFILE must be tiny or full (got '{bad}')" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
