"""The recognizer's trade-off (a DET curve): how many spoken keywords it detects against how
many false accepts it makes, at each `recognizer.detection_threshold` of a sweep.

    python -m ml.det --data DIR --model default=build/model/model_int8.tflite \\
        [--model other=PATH ...] [--thresholds 120:255:5] [--out build/det]

The two streams of the evaluate stage:
- the keyword stream (ml/kw_stream.py): the test split's words; streaming recall is the share
  of keywords detected with the right label within evaluate.stream_tolerance_ms of their end;
- the non-keyword stream (ml/fa_stream.py): its detections are the false accepts per hour
  that the evaluate gate (evaluate.max_false_accepts_per_hour) counts.
Each model runs once per stream; the sweep replays its scores through the recognizer
(ml/recognizer.py, the firmware's rules). Writes det.json, det.md and det.png to --out.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml.errors import KwsError, run_main
from ml.fa_stream import Placed, detections, make_stream, stream_scores
from ml.fsutil import atomic_open, write_bytes_atomic, write_json_atomic
from ml.kw_stream import keyword_stream, score_hits
from ml.params import DEFAULT_PARAMS, frames_per_clip, load_params
from ml.tflm import ModelFileError, model_io

log = logging.getLogger(__name__)


class DetError(KwsError):
    """A bad --model or --thresholds."""


@dataclass(frozen=True)
class Model:
    name: str
    path: Path
    data: bytes


def parse_models(specs: list[str], params: dict[str, Any]) -> list[Model]:
    """NAME=PATH pairs; each an int8 model whose input is the front-end's window."""
    want = frames_per_clip(params) * params["frontend"]["num_channels"]
    models, names = [], set()
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise DetError(f"--model {spec}: expected NAME=PATH")
        if name in names:
            raise DetError(f"--model {spec}: the name {name} is given twice")
        names.add(name)
        try:
            data = Path(path).read_bytes()
            io = model_io(data)
        except OSError as exc:
            raise DetError(f"--model {name}: {path}: {exc.strerror or exc}") from None
        except ModelFileError as exc:
            raise DetError(f"--model {name}: {path}: {exc}") from None
        size = int(np.prod(io["input"]["shape"][1:]))
        if size != want or io["input"]["dtype"] != "int8":
            raise DetError(
                f"--model {name}: {path}: input {io['input']['dtype']} "
                f"{list(io['input']['shape'])} does not hold the front-end's window "
                f"({frames_per_clip(params)} x {params['frontend']['num_channels']} int8, "
                "params.yaml frontend:)"
            )
        models.append(Model(name, Path(path), data))
    return models


def parse_thresholds(text: str) -> list[int]:
    """START:STOP:STEP (STOP included) or a comma list; averaged scores are 0..255."""
    try:
        if ":" in text:
            start, stop, step = (int(v) for v in text.split(":"))
            values = list(range(start, stop + 1, step)) if step > 0 else []
        else:
            values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or any(not 0 <= v <= 255 for v in values):
        raise DetError(f"--thresholds {text}: expected START:STOP:STEP or a comma list of 0..255")
    return sorted(set(values))


def sweep(
    model: Model,
    streams: dict[str, tuple[np.ndarray, list[Placed]]],
    params: dict[str, Any],
    thresholds: list[int],
) -> list[dict[str, Any]]:
    """One row per threshold: streaming recall, errors and false accepts per hour."""
    ds, sr = params["dataset"], params["dataset"]["sample_rate"]
    scores = {
        kind: stream_scores(model.data, audio, params, desc=f"{model.name} {kind}")
        for kind, (audio, _) in streams.items()
    }
    hours = {kind: len(audio) / sr / 3600.0 for kind, (audio, _) in streams.items()}
    rows = []
    for threshold in thresholds:
        rec = copy.deepcopy(params["recognizer"])
        rec["detection_threshold"] = threshold
        kw = detections(*scores["keyword"], ds["labels"], rec)
        fa = detections(*scores["non-keyword"], ds["labels"], rec)
        keywords, hits, errors = score_hits(
            kw, streams["keyword"][1], ds["labels"], sr, params["evaluate"]["stream_tolerance_ms"]
        )
        rows.append(
            {
                "threshold": threshold,
                "recall": round(hits / keywords, 4) if keywords else 0.0,
                "keywords": keywords,
                "hits": hits,
                "streaming_errors_per_hour": round(errors / hours["keyword"], 2),
                "false_accepts": len(fa),
                "false_accepts_per_hour": round(len(fa) / hours["non-keyword"], 2),
            }
        )
    return rows


def table(results: dict[str, list[dict[str, Any]]], current: int) -> str:
    names = list(results)
    head = "| threshold | " + " | ".join(f"{n}: recall / FA/h" for n in names) + " |"
    lines = [head, "|---|" + "---|" * len(names)]
    for i, row in enumerate(results[names[0]]):
        mark = " (params)" if row["threshold"] == current else ""
        cells = [
            f"{results[n][i]['recall'] * 100:.1f}% / {results[n][i]['false_accepts_per_hour']:g}"
            for n in names
        ]
        lines.append(f"| {row['threshold']}{mark} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict[str, list[dict[str, Any]]], current: int, gate: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for name, rows in results.items():
        x = [r["false_accepts_per_hour"] for r in rows]
        y = [r["recall"] * 100 for r in rows]
        (line,) = ax.plot(x, y, marker="o", ms=3, label=name)
        for r in rows:
            if r["threshold"] == current:
                ax.plot(r["false_accepts_per_hour"], r["recall"] * 100, "o", ms=9,
                        mfc="none", color=line.get_color())  # fmt: skip
        for r in rows[:: max(1, len(rows) // 6)]:
            ax.annotate(str(r["threshold"]), (r["false_accepts_per_hour"], r["recall"] * 100),
                        fontsize=6, xytext=(3, 3), textcoords="offset points")  # fmt: skip
    ax.axvline(gate, color="0.5", ls="--", lw=1, label=f"evaluate gate ({gate:g} FA/h)")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(left=0)
    ax.set_xlabel("false accepts per hour (non-keyword stream)")
    ax.set_ylabel("streaming recall (% of spoken keywords detected)")
    ax.set_title(f"recognizer trade-off per detection threshold (circle: params' {current})")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.det", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="dataset root (test split)")
    ap.add_argument("--model", action="append", required=True, help="NAME=PATH of an int8 model")
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    ap.add_argument("--thresholds", default="120:255:5", help="START:STOP:STEP or a,b,c")
    ap.add_argument("--out", type=Path, default=Path("build/det"))
    args = ap.parse_args(argv)
    params = load_params(args.params)
    models = parse_models(args.model, params)
    current = int(params["recognizer"]["detection_threshold"])
    thresholds = sorted({*parse_thresholds(args.thresholds), current})
    streams = {
        "keyword": keyword_stream(args.data, params),
        "non-keyword": (make_stream(args.data, params), []),
    }
    results = {m.name: sweep(m, streams, params, thresholds) for m in models}
    gate = float(params["evaluate"]["max_false_accepts_per_hour"])
    report = {
        "data": str(args.data),
        "stream_minutes": params["evaluate"]["stream_minutes"],
        "tolerance_ms": params["evaluate"]["stream_tolerance_ms"],
        "params_threshold": current,
        "models": {
            m.name: {"path": str(m.path), "sha256": hashlib.sha256(m.data).hexdigest()}
            for m in models
        },
        "sweep": results,
    }
    text = table(results, current)
    write_json_atomic(args.out / "det.json", report)
    write_bytes_atomic(args.out / "det.md", (text + "\n").encode())
    plot(results, current, gate, args.out / "det.png")
    print(text)
    for name, rows in results.items():
        ok = [r for r in rows if r["false_accepts_per_hour"] <= gate]
        best = max(ok, key=lambda r: (r["recall"], -r["threshold"])) if ok else None
        print(
            f"det: {name}: best recall within the {gate:g} FA/h gate: "
            + (f"{best['recall'] * 100:.1f}% at threshold {best['threshold']}" if best else "none")
        )
    print(f"det: {args.out}/det.png, det.md, det.json")
    return 0


if __name__ == "__main__":
    run_main(main)
