"""`python -m ml.synth`: generate (or --check) the offline dataset."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ml.errors import run_main
from ml.params import DEFAULT_PARAMS, ParamsError, load_params
from ml.synth import (
    SynthError,
    check_generated,
    check_synth_params,
    synthesize,
    total_speakers,
)

log = logging.getLogger("ml.synth")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m ml.synth", description="Generate the offline Speech Commands dataset."
    )
    ap.add_argument("--out", type=Path, help="dataset directory to (re)create")
    ap.add_argument(
        "--speakers", type=int, help="first N speakers of the plan (default: all of synth.engines)"
    )
    ap.add_argument("--seed", type=int, help="random seed (default: synth.seed)")
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    ap.add_argument("--workers", type=int, help="processes (default: all cores)")
    ap.add_argument("--print-source", action="store_true", help="print synth.source and exit")
    ap.add_argument(
        "--check",
        action="store_true",
        help="only check --out matches these settings (exit 1 if not)",
    )
    args = ap.parse_args(argv)
    params = load_params(args.params)
    if args.print_source:
        print(params["synth"]["source"], params["synth"]["real_dir"])
        return 0
    check_synth_params(params, str(args.params))
    if args.out is None:
        raise ParamsError("python -m ml.synth: --out is required")
    if args.speakers is not None and args.speakers < 1:
        raise ParamsError(f"--speakers = {args.speakers} must be at least 1")
    if args.check:
        sp = params["synth"]
        speakers = total_speakers(sp) if args.speakers is None else args.speakers
        seed = sp["seed"] if args.seed is None else args.seed
        try:
            check_generated(args.out, params, speakers, seed)
        except SynthError as exc:  # an answer, not a failure: say why, exit 1
            log.warning("%s", exc)
            return 1
        log.info("%s: matches the current synth settings", args.out)
        return 0
    info = synthesize(
        args.out, params, speakers=args.speakers, seed=args.seed, workers=args.workers
    )
    log.info(
        "wrote %d clips of %d speakers (%s) to %s",
        info["clips"],
        len(info["speakers"]),
        ", ".join(f"{k} {v}" for k, v in info["speakers_per_engine"].items()),
        args.out,
    )
    return 0


if __name__ == "__main__":
    run_main(main)
