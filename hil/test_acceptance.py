"""Acceptance: the board computes what the TFLM reference computes, on every golden vector,
accurately enough, with the same front-end, fast enough, for long enough, and counts it."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest
from tqdm import tqdm

from hil.boards import emulated_instructions
from hil.suite import Hil

KNOWN_FRONTEND_DIFFS = Path(__file__).with_name("frontend_known_diffs.json")
CLOCK_TOLERANCE = 0.01  # a board's uptime may drift this much from the host's clock


def _golden(client, hil: Hil) -> np.ndarray:
    """Board outputs for every golden vector (run once per session, shared by tests)."""
    if "golden" not in hil.cache:
        x = hil.features["x"]
        out = np.empty_like(hil.features["expected"])
        before = (client.wire.sent, client.wire.received, client.wire.payload)
        t = time.monotonic()
        for i in tqdm(range(len(x)), desc=f"{hil.board} golden", unit="vec", leave=False):
            out[i] = client.infer(x[i])["scores"]
        hil.metric("acceptance_golden_s", time.monotonic() - t, "s")
        sent, recv, payload = (
            a - b
            for a, b in zip(
                (client.wire.sent, client.wire.received, client.wire.payload), before, strict=True
            )
        )
        hil.metric("wire_efficiency", payload / (sent + recv), "ratio")
        hil.metric("vectors", len(x), "count")
        hil.cache["golden"] = out
    return hil.cache["golden"]


def _gate(hil: Hil, is_virtual: bool) -> float:
    return 1.0 if is_virtual else hil.params["hil"]["agreement_threshold_real"]


def _indices(mask: np.ndarray, limit: int = 20) -> str:
    idx = np.flatnonzero(mask)
    more = f" (+{len(idx) - limit} more)" if len(idx) > limit else ""
    return ",".join(map(str, idx[:limit])) + more if len(idx) else "none"


def test_golden_agreement(client, hil, is_virtual):
    """The firmware's int8 outputs against the pipeline's reference (the Python TFLM runtime):
    exact agreement, top-1 agreement, the largest difference and the vectors that differ."""
    out, want = _golden(client, hil), hil.features["expected"]
    exact = np.all(out == want, axis=1)
    agreement = float(exact.mean())
    top1 = float((np.argmax(out, axis=1) == np.argmax(want, axis=1)).mean())
    diff = int(np.abs(out.astype(np.int16) - want.astype(np.int16)).max()) if len(out) else 0
    hil.metric("agreement", agreement, "ratio")
    hil.metric("top1_agreement", top1, "ratio")
    hil.metric("max_abs_diff", diff, "int8")
    differ = _indices(~exact)
    print(
        f"\n{hil.board}: int8 agreement {agreement:.4f}, top-1 agreement {top1:.4f}, "
        f"largest difference {diff}, differing vectors: {differ}"
    )
    assert agreement >= _gate(hil, is_virtual), (
        f"agreement {agreement:.4f} (top-1 {top1:.4f}, largest difference {diff}, "
        f"differing vectors {differ})"
    )


def test_golden_accuracy(client, hil):
    out = _golden(client, hil)
    accuracy = float((np.argmax(out, axis=1) == hil.features["y"]).mean())
    hil.metric("accuracy", accuracy, "ratio")
    gate = hil.params["evaluate"]["min_accuracy_int8"]  # the pipeline's gate, one threshold
    assert accuracy >= gate, f"accuracy {accuracy:.4f} below evaluate.min_accuracy_int8 {gate}"


def _known_frontend_diffs() -> dict[str, set[tuple[int, int, int, int]]]:
    """hil/frontend_known_diffs.json: clip sha256 -> its known (frame, channel, fw, tf)."""
    data = json.loads(KNOWN_FRONTEND_DIFFS.read_text())
    return {k: {tuple(map(int, d)) for d in v["diffs"]} for k, v in data["clips"].items()}


def test_frontend_parity(client, hil):
    """The firmware's front-end (TFLM's microfrontend C library) against TensorFlow's op (the
    golden features). Every differing value is reported as (clip, frame, channel, firmware,
    tf); the test passes only when the differences are exactly the known set
    (hil/frontend_known_diffs.json, cause in firmware/README.md "Front-end parity"): any other,
    additional or missing difference fails."""
    clips, want = hil.audio["audio"], hil.audio["features"]
    if not len(clips):  # nothing compared is not 100% parity
        pytest.skip("no golden audio clips (export.golden_audio: 0): front-end not compared")
    known = _known_frontend_diffs()
    got = [client.features(clips[k], hil.frames, hil.channels) for k in range(len(clips))]
    same = [np.array_equal(got[k], want[k]) for k in range(len(clips))]
    parity = float(np.mean(same))
    largest, values, wrong = 0, 0, []
    for k, clip in enumerate(clips):
        key = hashlib.sha256(np.asarray(clip, "<i2").tobytes()).hexdigest()
        diffs = {
            (int(f), int(c), int(got[k][f, c]), int(want[k][f, c]))
            for f, c in np.argwhere(got[k] != want[k])
        }
        expected = known.get(key, set())
        for d in sorted(diffs | expected):
            tag = "known" if d in diffs & expected else ("NEW" if d in diffs else "MISSING")
            print(f"{hil.board}: clip {k} frame {d[0]} channel {d[1]}: firmware {d[2]} tf {d[3]}"
                  f" ({tag})")  # fmt: skip
        values += len(diffs)
        largest = max([largest, *(abs(d[2] - d[3]) for d in diffs)])
        if diffs != expected:
            new, missing = sorted(diffs - expected), sorted(expected - diffs)
            wrong.append(f"clip {k} ({key[:12]}): new {new[:6]} missing {missing[:6]}")
    hil.metric("frontend_parity", parity, "ratio")
    hil.metric("frontend_differing_values", values, "count")
    hil.metric("frontend_max_abs_diff", largest, "int8")
    differ = _indices(~np.array(same, bool))
    print(
        f"\n{hil.board}: front-end parity {parity:.4f} (bit-exact clips), {values} differing "
        f"values in clips {differ}, largest difference {largest}; "
        + ("all in the known set" if not wrong else f"{len(wrong)} clip(s) off the known set")
    )
    assert not wrong, "front-end differences off the known set: " + "; ".join(wrong)


def test_audio_is_frontend_then_model(client, hil):
    """`audio` = the device's own front-end, then the model: its scores equal `infer` on the
    features `features` returns for the same clip."""
    for clip in hil.audio["audio"]:
        own = client.features(clip, hil.frames, hil.channels)
        np.testing.assert_array_equal(client.audio(clip)["scores"], client.infer(own)["scores"])


def test_latency_bench(client, hil):
    p = hil.params["hil"]
    client.infer(hil.features["x"][0])  # bench runs on the last features received
    b = client.bench(p["bench_inferences"], p["bench_warmup"])
    p50, p95 = int(b["p50_us"]) / 1000, int(b["p95_us"]) / 1000
    estimated = b["latency"] == "estimated"  # a virtual board's: MACs / (MACs/cycle x clock)
    emulated = b["latency"] == "emulated"  # QEMU -icount: instructions at the board's clock
    assert b["latency"] in ("measured", "estimated", "emulated"), b
    hil.metric("latency_p50_ms", p50, "ms", estimated, emulated)
    hil.metric("latency_p95_ms", p95, "ms", estimated, emulated)
    if emulated:
        count = emulated_instructions(int(b["mean_us"]), hil.facts["clock_hz"])
        hil.metric("instructions_per_inference", count, "count", False, True)
    assert p50 <= p95 <= hil.facts["latency_bound_ms"]


def test_soak(client, hil, is_virtual):
    n, x = hil.params["hil"]["soak_inferences"], hil.features["x"]
    t0 = time.monotonic()
    first = client.stats()
    t1 = time.monotonic()
    for i in tqdm(range(n), desc=f"{hil.board} soak", unit="inf", leave=False):
        client.infer(x[i % len(x)])  # a reboot with a banner raises BoardReset
    t2 = time.monotonic()
    s = client.stats()
    t3 = time.monotonic()
    # a reboot whose banner was lost restarts the counter
    assert int(s["inferences"]) == int(first["inferences"]) + n
    # the board's clock kept time: its uptime grew at least as long as the soak took on the
    # host (a frozen, slow or wrapped clock fails); a board that measures its latency must
    # not run fast either. A virtual board's clock also counts estimated compute time.
    grew_ms = int(s["uptime_ms"]) - int(first["uptime_ms"])
    at_least, at_most = (t2 - t1) * 1000, (t3 - t0) * 1000
    assert grew_ms >= at_least * (1 - CLOCK_TOLERANCE) - 2, (grew_ms, at_least)
    if not is_virtual:
        assert grew_ms <= at_most * (1 + CLOCK_TOLERANCE) + 2, (grew_ms, at_most)
    hil.metric("soak_inferences", n, "count")


def test_telemetry_counters(client, hil):
    client.reset()
    x, k = hil.features["x"], min(20, len(hil.features["x"]))
    tops = [client.infer(x[i]) for i in range(k)]
    good = x[0].tobytes()
    assert client.command(f"infer {len(good)} 00000000", good).errors[0].startswith("e-crc")
    assert client.command("infer 1 00000000").errors[0].startswith("e-length")
    s = client.stats()
    assert (int(s["inferences"]), int(s["errors"]), int(s["crc_errors"])) == (k, 2, 1)
    assert int(s["timeouts"]) == 0
    assert sum(s["hist"]) == k
    hist = [0] * 16
    for t in tops:
        hist[(t["score"] + 128) // 16] += 1
    assert s["hist"] == hist
    want = {lb: 0 for lb in s["detections"]}
    for t in tops:
        if t["label"] in want and t["score"] >= hil.threshold_int8:
            want[t["label"]] += 1
    assert s["detections"] == want
