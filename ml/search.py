"""Budget-aware model search on DVC experiments.

    python -m ml.search run --board nano33ble [--board esp32] --budget 12 [--out build/search]
    python -m ml.search report --board nano33ble
    python -m ml.search apply --exp srch-ds_cnn-1a2b3c4d

`run` walks the candidates of `ml.search_space` in a seeded order, rejects those whose model,
arena or RAM would not fit the boards (`ml.search_shape`: a shape-only int8 build), and runs
each of the first `budget` that fit as a DVC experiment in the workspace (`ml.search_exp`):
`dvc exp run -n <name> -S key=value ... evaluate` (train -> quantize -> evaluate, the normal
stages). Each finished candidate appends a line to `<out>/results.jsonl`, so an interrupted
search resumes where it stopped; params.yaml and dvc.lock are put back after every
experiment (the experiment itself lives in DVC: `dvc exp show`, `dvc exp apply`).
`report` writes the table and the Pareto plot (`ml.search_report`); `apply` writes the
experiment's changed model/frontend keys into params.yaml (`ml.search_apply`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from ml import budget
from ml.errors import KwsError, run_main
from ml.fsutil import read_json_object
from ml.params import DEFAULT_PARAMS, load_params
from ml.search_exp import SearchError, Workspace, dvc, run_candidate
from ml.search_shape import Limits, ShapeCache, check
from ml.search_space import (
    Candidate,
    align_warmup,
    baseline_candidate,
    candidates,
    describe,
    exp_name,
)

log = logging.getLogger(__name__)
DEFAULT_OUT = Path("build/search")
RESULTS = "results.jsonl"
TARGET_STAGE = "evaluate"
THIRD_PARTY = Path("build/third_party")  # make tflm-sources-m4 (TFLM's tree for --emulate)


def read_results(path: Path) -> dict[str, dict[str, Any]]:
    """Experiment name -> result record (the last line wins)."""
    out: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return out
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            out[rec["exp"]] = rec
        except (ValueError, KeyError, TypeError):
            log.warning("%s:%d: unreadable line skipped", path, n)
    return out


def append_result(path: Path, rec: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def parse_set(values: list[str]) -> Candidate:
    """--set KEY=VALUE items (values read as YAML) for every candidate."""
    out: Candidate = {}
    for item in values:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SearchError(f"--set {item}: expected KEY=VALUE (e.g. train.epochs=6)")
        try:
            out[key] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise SearchError(f"--set {item}: value is not valid YAML") from None
    return out


def parse_latency(values: list[str], boards: dict[str, Any]) -> dict[str, float]:
    out = {}
    for item in values:
        name, _, ms = item.partition("=")
        if name not in boards:
            raise SearchError(f"--max-latency-ms {item}: board '{name}' is not in hil/boards.yaml")
        try:
            out[name] = float(ms)
        except ValueError:
            raise SearchError(f"--max-latency-ms {item}: expected BOARD=MS") from None
    return out


def select(
    params: dict[str, Any],
    limits: Limits,
    *,
    ops: list[str],
    cache: ShapeCache,
    n: int,
    seed: int,
    max_checks: int,
    common: Candidate | None = None,
) -> tuple[list[Candidate], list[tuple[Candidate, list[str]]]]:
    """The first `n` candidates that fit, and those rejected on the way (with reasons).

    `common` overrides (e.g. fewer epochs) join every candidate, and so its experiment name.
    """
    chosen: list[Candidate] = []
    rejected: list[tuple[Candidate, list[str]]] = []
    seen: set[str] = set()
    for checked, grid_point in enumerate(candidates(seed)):
        if len(chosen) >= n or checked >= max_checks:
            break
        c = align_warmup(params, {**grid_point, **(common or {})})
        if exp_name(c) in seen:  # `common` overrode what told two grid points apart
            continue
        seen.add(exp_name(c))
        facts = cache.facts(params, c, limits)
        if "quick_reject" in facts:
            reasons = facts["quick_reject"]
        elif "error" in facts:
            reasons = [f"cannot build: {facts['error']}"]
        else:
            reasons = check(facts, limits, ops)
        if reasons:
            rejected.append((c, reasons))
            log.info("reject %s: %s", describe(c), reasons[0])
        else:
            chosen.append(c)
    return chosen, rejected


def baseline_row(
    root: Path, params: dict[str, Any], boards: dict[str, Any]
) -> dict[str, Any] | None:
    """Today's model (the workspace's evaluate metrics) as a report row, when it has them."""
    from ml.search_report import figures

    path = root / "metrics/evaluate.json"
    try:
        row = figures(read_json_object(path, "evaluate metrics", SearchError), boards)
    except (SearchError, KeyError, TypeError, ValueError) as exc:
        log.info("search: no baseline row (%s: %s)", path, exc)
        return None
    return {"exp": "params.yaml", "label": describe(baseline_candidate(params)), **row}


def emulate_record(root: Path, out: Path, exp: str) -> dict[str, Any]:
    """{"emulated": {...}} for the candidate in the workspace, or {"emulate_error": why}."""
    from ml.search_emulate import emulate

    try:
        res = emulate(root, out / "emulate" / exp, out / "m4", third_party=root / THIRD_PARTY)
    except KwsError as exc:
        log.warning("%s: not emulated: %s", exp, exc)
        return {"emulate_error": str(exc)}
    return {"emulated": res}


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from ml.search_report import write_report

    root = Path.cwd()
    params = load_params(args.params)
    boards_all = budget.load_boards(args.boards)
    names = [b for item in args.board for b in item.split(",") if b]
    unknown = [b for b in names if b not in boards_all]
    if not names or unknown:
        raise SearchError(
            f"BOARD={','.join(unknown) or '(none)'}: must be one of {', '.join(boards_all)}"
        )
    limits = Limits(
        boards={b: boards_all[b] for b in names},
        max_model_bytes=args.max_model_bytes,
        max_arena_bytes=args.max_arena_bytes,
        max_latency_ms=parse_latency(args.max_latency_ms, boards_all),
    )
    if args.emulate and not args.report_only:  # before minutes of shape checks
        from ml.search_emulate import missing_tools

        why = missing_tools(root / THIRD_PARTY)
        if why:
            raise SearchError(f"--emulate: {why}")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    ops = budget.supported_ops(args.ops)
    cache = ShapeCache(out / "shapes.json")
    chosen, rejected = select(
        params,
        limits,
        ops=ops,
        cache=cache,
        n=args.budget,
        seed=args.seed,
        max_checks=args.max_checks,
        common=parse_set(args.set),
    )
    log.info("search: %d candidates fit %s (%d rejected before training)",
             len(chosen), ",".join(names), len(rejected))  # fmt: skip
    results_path = out / RESULTS
    done = read_results(results_path)
    todo = [] if args.report_only else [c for c in chosen if exp_name(c) not in done]
    log.info("search: %d of %d done, %d to run", len(done.keys() & {exp_name(c) for c in chosen}),
             len(chosen), len(todo))  # fmt: skip
    ws = Workspace(root, out)
    # a cancelled job (SIGTERM) stops like Ctrl-C: workspace put back, report written
    signal.signal(signal.SIGTERM, _interrupt)
    start = time.monotonic()
    bar = tqdm(total=len(chosen), initial=len(chosen) - len(todo), desc="search", unit="exp",
               file=sys.stderr, dynamic_ncols=True)  # fmt: skip
    interrupted = False
    try:
        for i, c in enumerate(todo, 1):
            bar.set_postfix_str(describe(c))
            ws.save()
            try:
                rec = run_candidate(root, c, args.stage, out / "logs")
                if args.emulate and "error" not in rec:  # the workspace holds its model now
                    rec.update(emulate_record(root, out, rec["exp"]))
            finally:
                ws.restore()
            append_result(results_path, rec)
            bar.update(1)
            elapsed = time.monotonic() - start
            eta = elapsed / i * (len(todo) - i)
            acc = rec.get("metrics", {}).get("accuracy_int8")
            status = (
                f"int8 {acc:.4f}"
                if acc is not None
                else f"FAILED: {rec.get('error')} (full output: {rec.get('log')})"
            )
            if "emulated" in rec:
                instr = rec["emulated"]["instructions_per_inference"]
                status += f", {instr / 1e6:.2f} M instructions (emulated nano33ble)"
            tqdm.write(
                f"search: {len(chosen) - len(todo) + i}/{len(chosen)} {rec['exp']} "
                f"({describe(c)}) {status} in {rec['run_s']:.0f} s; "
                f"elapsed {elapsed / 60:.1f} min, ETA {eta / 60:.1f} min",
                file=sys.stderr,
            )
    except KeyboardInterrupt:  # report what is done; the next run resumes
        interrupted = True
    finally:
        bar.close()
        if todo:
            dvc("checkout", "-q", cwd=root)  # cached outputs back to the restored dvc.lock
    write_report(
        out, names, boards_all, chosen=chosen, rejected=rejected,
        results=read_results(results_path), baseline=baseline_row(root, params, boards_all),
    )  # fmt: skip
    if interrupted:
        log.info("search: interrupted; run the same command again to resume")
        raise KeyboardInterrupt
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.search", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="select, train and report candidates for boards")
    r.add_argument("--board", action="append", required=True, help="board(s); comma list ok")
    r.add_argument("--budget", type=int, default=12, help="candidates to train")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--max-checks", type=int, default=200, help="shape checks at most")
    r.add_argument("--max-model-bytes", type=int)
    r.add_argument("--max-arena-bytes", type=int, help="tensor arena incl. margin")
    r.add_argument("--max-latency-ms", action="append", default=[], metavar="BOARD=MS")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="params override for every candidate (e.g. train.epochs=6)")  # fmt: skip
    r.add_argument("--report-only", action="store_true", help="train nothing; write the report")
    r.add_argument("--emulate", action="store_true",
                   help="also count instructions per inference on the emulated Cortex-M4 "
                   "(nano33ble's map, QEMU -icount)")  # fmt: skip
    r.add_argument("--stage", default=TARGET_STAGE, help="dvc.yaml stage to run up to")
    r.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    r.add_argument("--boards", type=Path, default=budget.DEFAULT_BOARDS)
    r.add_argument("--ops", type=Path, default=budget.DEFAULT_OPS)
    r.add_argument("--out", type=Path, default=DEFAULT_OUT)
    a = sub.add_parser("apply", help="write an experiment's model/frontend keys to params.yaml")
    a.add_argument("--exp", required=True)
    a.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    args = ap.parse_args(argv)
    if args.cmd == "run":
        if args.budget < 1:
            raise SearchError(f"SEARCH_BUDGET={args.budget}: must be at least 1")
        return run(args)
    from ml.search_apply import apply_exp

    changed = apply_exp(Path.cwd(), args.exp, args.params)
    for key, (old, new) in changed.items():
        print(f"search-apply: {key}: {old!r} -> {new!r}")
    if not changed:
        print(f"search-apply: {args.params} already has {args.exp}'s model/frontend params")
    return 0


if __name__ == "__main__":
    run_main(main)
