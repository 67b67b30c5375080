"""`make unheard`: the exported int8 model on speech engines its training data never had.

    python -m ml.unheard [--model build/model/model_int8.tflite] [--out metrics/unheard.json]
                         [--data build/unheard] [--params params.yaml] [--workers N]
    python -m ml.unheard --show metrics/unheard.json [--model ...]

`make transfer` retrains without one engine and tests that model; this tests the model the
pipeline ships, on the engines of `transfer.unheard` (speakers per engine; each must have 0
speakers in `synth.engines`). Their speakers are generated with synth.*'s settings and seed
into `--data` (kept while its synth_info.json matches; DVC does not track it: it
regenerates in minutes), every clip is featurized as a test clip is (no augmentation), and
`_unknown_` clips are capped at dataset.unknown_percentage of the keyword clips, as in the
test split and `make transfer`. The result records the model's sha256, so `make metrics`
says when it is stale.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ml.dataset import UNKNOWN, engine_of, list_clips
from ml.errors import KwsError, run_main
from ml.fsutil import atomic_open
from ml.params import DEFAULT_PARAMS, ParamsError, load_params

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path("build/model/model_int8.tflite")
DEFAULT_DATA = Path("build/unheard")


class UnheardError(KwsError):
    """One-line failure of `make unheard`."""


def unheard_params(params: dict[str, Any], src: str) -> dict[str, Any]:
    """params with synth.engines replaced by transfer.unheard (generated data only)."""
    unheard = {e: n for e, n in params["transfer"]["unheard"].items() if n > 0}
    if not unheard:
        raise ParamsError(f"{src}: transfer.unheard gives no speakers")
    heard = [e for e in unheard if params["synth"]["engines"].get(e, 0) > 0]
    if heard:
        e = heard[0]
        raise ParamsError(
            f"{src}: transfer.unheard.{e}: the model trains on {e} "
            f"(synth.engines.{e} = {params['synth']['engines'][e]}); an unheard engine has 0"
        )
    out = copy.deepcopy(params)
    out["synth"]["engines"] = {e: 0 for e in params["synth"]["engines"]} | unheard
    out["synth"]["source"] = "synthetic"
    return out


def ensure_data(root: Path, params: dict[str, Any], workers: int | None) -> Path:
    """The unheard engines' dataset in `root`/speech_commands, generated unless it matches."""
    from ml.synth import SynthError, check_engines, check_generated, synthesize, total_speakers

    data = root / "speech_commands"
    speakers, seed = total_speakers(params["synth"]), params["synth"]["seed"]
    if (data / "synth_info.json").is_file():
        try:
            check_generated(data, params, speakers, seed)
            log.info("%s: generated with today's params: reused", data)
            return data
        except SynthError as exc:
            log.info("%s; regenerating", exc)
    check_engines(params)
    synthesize(data, params, speakers=speakers, seed=seed, workers=workers)
    return data


def features_of(data: Path, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """int8 features, labels and names of every clip (all splits), as test clips are made."""
    from ml.features import Example, featurize

    clips = sorted((c for cs in list_clips(data, params).values() for c in cs), key=lambda c: c.rel)
    if not clips:
        raise UnheardError(f"{data}: no clips")
    examples = [Example(c.rel, c.label, c.path) for c in clips]
    x = featurize(examples, params, [], desc="features unheard")
    return x, np.array([c.label for c in clips], dtype=np.int64), [c.rel for c in clips]


def evaluate(model: Path, data: Path, params: dict[str, Any]) -> dict[str, Any]:
    """The model's int8 accuracy and per-label recall per unheard engine (TFLM, as on a board)."""
    from ml import tflm
    from ml.transfer import cap_unknowns, score

    labels = list(params["dataset"]["labels"])
    model_bytes = tflm.read_model(model)
    x, y, names = features_of(data, params)
    engines = np.array([engine_of(n) or "" for n in names])
    out: dict[str, Any] = {}
    for engine in sorted(set(engines) - {""}):
        rows = np.flatnonzero(engines == engine)
        seed = [params["features"]["seed"], zlib.crc32(engine.encode())]
        pct = params["dataset"]["unknown_percentage"]
        keep = rows[cap_unknowns(y[rows], labels.index(UNKNOWN), pct, seed)]
        logits = tflm.run_tflm(model_bytes, x[keep])
        pred = np.argmax(logits.reshape(len(keep), -1), axis=-1)
        out[engine] = score(pred, y[keep], labels)
        out[engine]["speakers"] = params["synth"]["engines"][engine]
        log.info("unheard engine %s: int8 accuracy %.4f", engine, out[engine]["accuracy"])
    return {
        "engines": out,
        "worst_engine": min(out, key=lambda e: out[e]["accuracy"]),
        "worst_accuracy": min(v["accuracy"] for v in out.values()),
        "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
    }


def table(result_json: Path, model: Path | None) -> str:
    """The Markdown table `make metrics` prints."""
    try:
        r = json.loads(result_json.read_text())
    except OSError:
        return f"{result_json}: not computed yet (run `make unheard`)"
    except ValueError as exc:
        raise UnheardError(f"{result_json}: not valid JSON ({exc})") from None
    lines = [
        "| the exported int8 model on engines it never heard | accuracy on 12 classes | "
        "keyword recall (mean) |",
        "| --- | --- | --- |",
    ]
    for engine, v in r["engines"].items():
        kw = [a for k, a in v["recall"].items() if not k.startswith("_")]
        lines.append(
            f"| engine {engine} ({v['speakers']} speakers) | {v['accuracy']:.4f} "
            f"({v['clips']} clips) | {np.mean(kw):.4f} |"
        )
    if model is not None and model.is_file():
        if hashlib.sha256(model.read_bytes()).hexdigest() != r.get("model_sha256"):
            lines.append(f"(stale: {model} changed since; run `make unheard`)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.unheard", description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="int8 .tflite model")
    ap.add_argument("--out", type=Path, help="metrics JSON to write")
    ap.add_argument("--show", type=Path, help="only print the table of this unheard.json")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="where the speakers go")
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="generation processes")
    args = ap.parse_args(argv)
    if args.show:
        print(table(args.show, args.model))
        return 0
    if args.out is None:
        raise UnheardError("--out (or --show) is required")
    if not args.model.is_file():
        raise UnheardError(f"{args.model}: model not found (run `make repro` or `make pull`)")
    params = unheard_params(load_params(args.params), str(args.params))
    data = ensure_data(args.data, params, args.workers)
    result = evaluate(args.model, data, params)
    with atomic_open(args.out, "w") as f:
        f.write(json.dumps(result, indent=1) + "\n")
    print(table(args.out, args.model))
    return 0


if __name__ == "__main__":
    run_main(main)
