"""Smoke: the board boots, is the build we expect, and classifies one golden vector in time."""

from __future__ import annotations

import numpy as np

from hil import version
from hil.suite import expected_label


def test_boot_banner(synced_dut, hil):
    dut = synced_dut
    dut.write("reset")
    dut.expect_exact("m-reset")
    boot = dut.expect(rb"([me])-boot ([^\r\n]*)\r\n", timeout=30)
    dut.expect_exact("m-ready")
    line = boot.group(0).decode().strip()
    assert boot.group(1) == b"m", f"board booted into safe mode: {line}"
    fields = dict(tok.split("=", 1) for tok in boot.group(2).decode().split(" "))
    assert set(fields) == {"board", "fw", "proto"}, line
    assert (fields["board"], fields["proto"]) == (hil.board, "1"), line
    assert version.matches(fields["fw"], hil.fw_version), line


def test_identity(client, hil):
    ident = client.identity()
    assert ident["board"] == hil.board
    assert ident["model_sha256"] == hil.manifest["model_sha256"]
    assert version.matches(ident["fw"], hil.fw_version), ident["fw"]
    assert ident["proto"] == "1"
    assert ident["input"] == f"{hil.frames}x{hil.channels}"
    assert int(ident["arena_used"]) <= int(ident["arena_size"]) <= hil.facts["arena_budget_bytes"]


def test_one_golden_vector(client, hil):
    out = client.infer(hil.features["x"][0])
    assert out["idx"] == expected_label(hil, 0)
    assert out["label"] == hil.settings["labels"][expected_label(hil, 0)]
    np.testing.assert_array_equal(out["scores"], hil.features["expected"][0])


def test_latency_under_bound(client, hil, is_virtual):
    us = client.infer(hil.features["x"][0])["us"]  # a virtual board's is an estimate
    emulated = client.identity()["latency"] == "emulated"  # QEMU's instruction count
    hil.metric("smoke_latency_ms", us / 1000, "ms", is_virtual and not emulated, emulated)
    assert 0 < us / 1000 <= hil.facts["latency_bound_ms"]
