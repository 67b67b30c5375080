"""Acceptance: the board computes what the TFLM reference computes, on every golden vector,
accurately enough, with the same front-end, fast enough, for long enough, and counts it."""

from __future__ import annotations

import time

import numpy as np
from tqdm import tqdm

from hil.conftest import Hil


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
    assert accuracy >= hil.params["hil"]["accuracy_threshold"], f"accuracy {accuracy:.4f}"


def test_frontend_parity(client, hil, is_virtual):
    """The firmware's front-end (TFLM's microfrontend C library) against TensorFlow's op
    (the golden features): bit-exact expected; every differing clip and value is named."""
    clips, want = hil.audio["audio"], hil.audio["features"]
    got = [client.features(clips[k], hil.frames, hil.channels) for k in range(len(clips))]
    same = [np.array_equal(got[k], want[k]) for k in range(len(clips))]
    parity = float(np.mean(same)) if same else 1.0
    diffs = [np.argwhere(got[k] != want[k]) for k in range(len(clips))]
    largest = max(
        (
            int(np.abs(got[k].astype(np.int16) - want[k].astype(np.int16)).max())
            for k in range(len(clips))
        ),
        default=0,
    )
    hil.metric("frontend_parity", parity, "ratio")
    hil.metric("frontend_max_abs_diff", largest, "int8")
    where = "; ".join(
        f"clip {k}: {len(d)} values at (frame, channel) {[tuple(map(int, x)) for x in d[:4]]}"
        for k, d in enumerate(diffs)
        if len(d)
    )
    differ = _indices(~np.array(same, bool))
    print(
        f"\n{hil.board}: front-end parity {parity:.4f}, largest difference {largest}, "
        f"differing clips: {differ} {where}"
    )
    assert parity >= _gate(hil, is_virtual), (
        f"front-end parity {parity:.4f} (differing clips {differ}; largest difference "
        f"{largest}; {where})"
    )


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
    hil.metric("latency_p50_ms", p50, "ms")
    hil.metric("latency_p95_ms", p95, "ms")
    assert p50 <= p95 <= hil.facts["latency_bound_ms"]


def test_soak(client, hil):
    n, x = hil.params["hil"]["soak_inferences"], hil.features["x"]
    boot_uptime = int(client.stats()["uptime_ms"])
    before = int(client.stats()["inferences"])
    for i in tqdm(range(n), desc=f"{hil.board} soak", unit="inf", leave=False):
        client.infer(x[i % len(x)])  # a reboot would raise BoardReset
    s = client.stats()
    assert int(s["inferences"]) == before + n
    assert int(s["uptime_ms"]) > boot_uptime
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
