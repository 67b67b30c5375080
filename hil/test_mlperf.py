"""MLPerf Tiny: the board speaks the command set as the MLCommons Tiny runner drives it
(firmware/PROTOCOL.md "MLPerf Tiny commands"), on a golden vector, on any board."""

from __future__ import annotations

import numpy as np

RUNNER_DB_BYTES = 31  # the runner's bytes per `db` command


def _results(line: str) -> list[float]:
    return [float(v) for v in line.removeprefix("m-results-[").removesuffix("]").split(",")]


def test_mlperf_runner_flow(client, hil):
    """name, profile, timestamp, db load + db in the runner's chunks, infer N W, results:
    the results are the golden vector's reference outputs, dequantized, to 3 decimals."""
    assert client.mlperf("name") == [f"m-name-dut-[kws-{hil.board}]"]
    profile = client.mlperf("profile")
    assert profile[0].startswith("m-profile-[") and profile[1] == "m-model-[kws01]", profile
    t_a, t_b = (int(client.mlperf("timestamp")[0].removeprefix("m-lap-us-")) for _ in range(2))
    assert t_b > t_a
    x = hil.features["x"][0].astype(np.int8).tobytes()
    assert client.mlperf(f"db load {len(x)}") == [f"m-[Expecting {len(x)} bytes]"]
    lines: list[str] = []
    for i in range(0, len(x), RUNNER_DB_BYTES):
        lines = client.mlperf(f"db {x[i : i + RUNNER_DB_BYTES].hex()}")
    assert lines == ["m-load-done"]
    lines = client.mlperf("infer 3 1")
    assert lines[:3] == ["m-warmup-start-1", "m-warmup-done", "m-infer-start-3"], lines
    t0, t1 = (int(v.removeprefix("m-lap-us-")) for v in lines[3:5])
    assert t1 > t0 and lines[5] == "m-infer-done", lines
    got = _results(lines[6])
    out = hil.settings["output"]
    want = (hil.features["expected"][0].astype(np.float64) - out["zero_point"]) * np.float64(
        np.float32(out["scale"])
    )
    assert len(got) == len(want) == len(hil.settings["labels"])
    for i, (g, w) in enumerate(zip(got, want, strict=True)):  # truncated toward zero
        assert abs(g) <= abs(w) + 1e-9 and abs(g - w) < 0.001, (i, g, w)
    assert client.mlperf("results") == [lines[6]]
