"""Transfer to unheard voices: train without one speech engine, test on that engine.

    python -m ml.transfer --features build/features --out metrics/transfer.json
    python -m ml.transfer --show metrics/transfer.json [--evaluate metrics/evaluate.json]

The engine of a clip is in its speaker id (`<word>/<engine>-<hash>_nohash_<n>.wav`). For
each engine in `transfer.engines`, a model (`model.*`, `train.*` with `transfer.epochs`) is
trained on the training features of the other engines (and the silence examples), picks
its best epoch on their validation features, and is tested on every clean (not augmented)
clip of the held-out engine from all three splits: none of its voices was heard in
training. Its `_unknown_` clips are capped at dataset.unknown_percentage of its keyword
clips (a seeded sample), the test split's composition: the training split may hold more
(dataset.train_unknown_percentage), and the figure must not move with that or with
synth.unknown_words_per_speaker. The figure is the float model's accuracy over the 12
outputs; the worst engine is the repository's proxy for "a voice it never trained on".
One run moves by a few points with the training seed, so `transfer.seeds` (or `--seeds`)
trains each hold-out that many times (train.seed, train.seed + 1, ...) and reports the mean,
each run's figure beside it: compare recipes on the mean of several. The
JSON also records the hashes of the features and of the recipe (the params a run depends
on) it was computed from, so `--show` can say when it is stale.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ml.dataset import UNKNOWN, engine_of
from ml.errors import KwsError, run_main
from ml.frontend import dequantize_features
from ml.fsutil import write_bytes_atomic
from ml.params import DEFAULT_PARAMS, SCHEMA, load_params
from ml.splits import load_split

log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")
MAX_SEEDS = int(SCHEMA["transfer"]["seeds"].hi)


class TransferError(KwsError):
    """The features carry no engine names, or an engine has no clips."""


def split_rows(names: np.ndarray, held: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows for training: not the held-out engine; clean rows of the held-out engine)."""
    engines = np.array([engine_of(str(n)) for n in names], dtype=object)
    clean = np.array(["#aug" not in str(n) for n in names])
    return engines != held, (engines == held) & clean


def cap_unknowns(y: np.ndarray, unknown: int, percentage: int, seed: list[int]) -> np.ndarray:
    """Mask keeping every other row and a seeded sample of the `unknown` rows: at most
    `percentage` % of the others (features.select_examples' rule for a split)."""
    keep = y != unknown
    rows = np.flatnonzero(~keep)
    cap = math.ceil(int(keep.sum()) * percentage / 100)
    if len(rows) > cap:
        rows = np.sort(np.random.default_rng(seed).permutation(rows)[:cap])
    keep[rows] = True
    return keep


def features_digest(features: Path) -> str:
    h = hashlib.sha256()
    for split in SPLITS:
        h.update((features / f"{split}.npz").read_bytes())
    return h.hexdigest()[:16]


def recipe_digest(params: dict[str, Any]) -> str:
    """The params a held-out run depends on besides the features: the model, `train.*` with
    `transfer.epochs` in place of `train.epochs`, and the labels (the front-end's params
    are in the features digest)."""
    recipe = {
        "labels": params["dataset"]["labels"],
        "model": params["model"],
        "train": {**params["train"], "epochs": params["transfer"]["epochs"]},
    }
    if params["transfer"].get("seeds", 1) != 1:  # absent at 1: earlier results stay current
        recipe["seeds"] = params["transfer"]["seeds"]
    for key in ("engine_adversary", "average_last"):  # likewise while off (0)
        if not recipe["train"].get(key):
            recipe["train"].pop(key, None)
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def hold_out(params: dict[str, Any], features: Path, held: str) -> dict[str, Any]:
    """`held`'s accuracy and per-label recall: one model trained without it per seed of
    `transfer.seeds`, their mean (and each run's accuracy and best epoch, if several). The
    clips are selected once: every seed is tested on the same ones (their `_unknown_`
    sample is drawn from train.seed)."""
    labels = params["dataset"]["labels"]
    data = {s: load_split(features, s) for s in SPLITS}
    keep_tr, _ = split_rows(data["train"][2], held)
    keep_va, _ = split_rows(data["validation"][2], held)
    test_x, test_y = [], []
    for s in SPLITS:
        _, test = split_rows(data[s][2], held)
        test_x.append(data[s][0][test])
        test_y.append(data[s][1][test])
    x_test, y_test = np.concatenate(test_x), np.concatenate(test_y)
    seed = [params["train"]["seed"], zlib.crc32(held.encode())]
    pct = params["dataset"]["unknown_percentage"]
    keep = cap_unknowns(y_test, labels.index(UNKNOWN), pct, seed)
    x_test, y_test = dequantize_features(x_test[keep]), y_test[keep]
    if len(y_test) == 0:  # also: only _unknown_ clips, none kept against no keyword clips
        raise TransferError(f"{features}: no clips of engine {held!r} (names <engine>-<hash>)")
    x_tr, y_tr = dequantize_features(data["train"][0][keep_tr]), data["train"][1][keep_tr]
    x_va, y_va = dequantize_features(data["validation"][0][keep_va]), data["validation"][1][keep_va]
    log.info("hold out %s: train %d, validate %d, test %d", held, len(y_tr), len(y_va), len(y_test))
    seeds = params["transfer"].get("seeds", 1)
    runs = []
    for i in range(seeds):
        train_seed = params["train"]["seed"] + i
        pred, best_epoch = _fit_and_predict(
            params, (x_tr, y_tr, x_va, y_va), x_test, train_seed, data["train"][2][keep_tr]
        )
        extra = {"train_examples": len(y_tr), "best_epoch": best_epoch, "seed": train_seed}
        runs.append({**score(pred, y_test, labels), **extra})
        if seeds > 1:
            log.info("hold out %s, run %d of %d: %.4f", held, i + 1, seeds, runs[-1]["accuracy"])
    return mean_of_runs(runs)


def mean_of_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from the runs of a hold-out (same clips, other seeds): mean accuracy and
    recall; with several runs also `runs`, each run's seed, accuracy and best epoch."""
    if len(runs) == 1:
        return {k: v for k, v in runs[0].items() if k != "seed"}
    first = runs[0]
    return {
        "accuracy": round(float(np.mean([r["accuracy"] for r in runs])), 4),
        "clips": first["clips"],
        "recall": {
            k: round(float(np.mean([r["recall"][k] for r in runs])), 4) for k in first["recall"]
        },
        "train_examples": first["train_examples"],
        "runs": [
            {"seed": r["seed"], "accuracy": r["accuracy"], "best_epoch": r["best_epoch"]}
            for r in runs
        ],
    }


def _fit_and_predict(
    params: dict[str, Any],
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    x_test: np.ndarray,
    train_seed: int,
    train_names: np.ndarray,
) -> tuple[np.ndarray, int]:
    """(labels predicted for `x_test`, best epoch) of a model trained from `train_seed`
    (`train_names`: the training rows' clip names, for train.engine_adversary)."""
    from ml.fit import (
        compile_and_fit,
        final_weights,
        fit_callbacks,
        seed_everything,
    )
    from ml.models import build_model

    num_labels = len(params["dataset"]["labels"])
    tp = {**params["train"], "seed": train_seed}
    seed_everything(train_seed)
    model = build_model(params["model"], data[0].shape[1:], num_labels)
    best, average, callbacks = fit_callbacks(tp, params["transfer"]["epochs"])
    compile_and_fit(
        model,
        data,
        num_labels,
        tp,
        learning_rate=tp["learning_rate"],
        epochs=params["transfer"]["epochs"],
        callbacks=callbacks,
        train_names=train_names,
    )
    epoch = final_weights(model, tp, best, average, data[0])
    return np.argmax(model.predict(x_test, verbose=0), axis=1), epoch


def score(pred: np.ndarray, y: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Accuracy, clip count and the recall of every label present in `y`."""
    return {
        "accuracy": round(float(np.mean(pred == y)), 4),
        "clips": len(y),
        "recall": {
            labels[k]: round(float(np.mean(pred[y == k] == k)), 4)
            for k in range(len(labels))
            if np.any(y == k)
        },
    }


def run(params: dict[str, Any], features: Path, minimum: int = 2) -> dict[str, Any]:
    names = np.concatenate([load_split(features, s)[2] for s in SPLITS])
    present = sorted({e for e in (engine_of(str(n)) for n in names) if e})
    wanted = [e for e in params["transfer"]["engines"] if e in present]
    if len(wanted) < minimum or len(present) < 2:
        raise TransferError(
            f"{features}: held-out-engine validation needs clips of two engines of "
            f"transfer.engines; found {', '.join(present) or 'none'}"
        )
    per = {}
    for held in wanted:
        per[held] = hold_out(params, features, held)
        log.info("held-out engine %s: accuracy %.4f", held, per[held]["accuracy"])
    return summarize(
        per, params["transfer"]["epochs"], features_digest(features), recipe_digest(params)
    )


def summarize(per: dict[str, Any], epochs: int, digest: str, recipe: str) -> dict[str, Any]:
    accs = [v["accuracy"] for v in per.values()]
    return {
        "worst_accuracy": min(accs),
        "mean_accuracy": round(float(np.mean(accs)), 4),
        "worst_engine": min(per, key=lambda e: per[e]["accuracy"]),
        "held_out": per,
        "epochs": epochs,
        "features": digest,
        "recipe": recipe,
    }


def merge(paths: list[Path]) -> dict[str, Any]:
    """One result from runs on disjoint subsets of the engines (same features, epochs)."""
    parts = []
    for p in paths:
        try:
            parts.append(json.loads(p.read_text()))
        except (OSError, ValueError) as exc:
            raise TransferError(f"{p}: unreadable ({exc})") from None
    if len({(t["features"], t["epochs"], t.get("recipe")) for t in parts}) != 1:
        raise TransferError("--merge: the runs used different features, epochs or recipes")
    per = {e: v for t in parts for e, v in t["held_out"].items()}
    return summarize(per, parts[0]["epochs"], parts[0]["features"], parts[0].get("recipe", ""))


def _in_distribution(evaluate_json: Path) -> tuple[float | None, dict[str, Any]]:
    """(int8 test accuracy, engine -> {accuracy, clips}) from evaluate.json, if readable."""
    try:
        d = json.loads(evaluate_json.read_text())
    except (OSError, ValueError):
        return None, {}
    if not isinstance(d, dict):
        return None, {}
    acc = d.get("accuracy_int8")
    by_engine = d.get("int8_by_engine")
    return (
        float(acc) if isinstance(acc, int | float) else None,
        by_engine if isinstance(by_engine, dict) else {},
    )


def _row(*cells: str) -> str:
    """A Markdown table row; an empty cell is `| |`."""
    return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"


def _held_cell(held: dict[str, Any]) -> str:
    """'0.4390 (3500 clips)', or with several runs '0.4390 (3500 clips; 3 seeds: 0.4351-0.4454)'."""
    cell = f"{held['accuracy']:.4f} ({held['clips']} clips"
    runs = [r["accuracy"] for r in held.get("runs", [])]
    if len(runs) > 1:
        cell += f"; {len(runs)} seeds: {min(runs):.4f}-{max(runs):.4f}"
    return cell + ")"


def table(
    transfer_json: Path,
    evaluate_json: Path | None,
    features: Path | None,
    engines: list[str] | None = None,
    recipe: str | None = None,
) -> str:
    """The Markdown table `make metrics` prints; `engines` (transfer.engines) names the
    engines a merge of subset runs left out; `recipe` (recipe_digest of today's params)
    tells a result of another recipe."""
    try:
        t = json.loads(transfer_json.read_text())
    except OSError:
        return f"{transfer_json}: not computed yet (run `make transfer`)"
    except ValueError as exc:
        raise TransferError(f"{transfer_json}: not valid JSON ({exc})") from None
    ind, by_engine = _in_distribution(evaluate_json) if evaluate_json else (None, {})
    lines = [
        "| accuracy on 12 classes | in distribution (test split, int8) | held out (float) |",
        "| --- | --- | --- |",
    ]
    if ind is not None:
        lines.append(_row("all engines", f"{ind:.4f}", ""))
    for engine in list(t["held_out"]) + [e for e in by_engine if e not in t["held_out"]]:
        mine, held = by_engine.get(engine), t["held_out"].get(engine)
        cells = [
            f"{mine['accuracy']:.4f} ({mine['clips']} clips)" if mine else "",
            _held_cell(held) if held else "",
        ]
        lines.append(_row(f"engine {engine}", *cells))
    lines.append(
        _row("worst held-out engine", "", f"{t['worst_engine']}: {t['worst_accuracy']:.4f}")
    )
    missing = [e for e in engines or [] if e not in t["held_out"]]
    if missing:
        lines.append(
            f"(incomplete: no result for {', '.join(missing)} of transfer.engines; "
            "run `make transfer`)"
        )
    if features is not None and (features / "train.npz").is_file():
        if features_digest(features) != t.get("features"):
            lines.append(f"(stale: {features} changed since; run `make transfer`)")
    if recipe is not None and t.get("recipe") != recipe:
        lines.append(
            "(stale: computed with another model or training recipe (model, train, transfer "
            "params); run `make transfer`)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.transfer", description=__doc__.split("\n")[0])
    ap.add_argument("--features", type=Path, help="directory of the split npz files")
    ap.add_argument("--out", type=Path, help="metrics JSON to write")
    ap.add_argument("--show", type=Path, help="only print the table of this transfer.json")
    ap.add_argument("--evaluate", type=Path, help="evaluate.json (in-distribution accuracy)")
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    ap.add_argument("--engines", help="comma-separated subset of transfer.engines (parallel runs)")
    ap.add_argument("--epochs", type=int, help="override transfer.epochs (a quicker estimate)")
    ap.add_argument("--seeds", type=int, help="override transfer.seeds (runs per hold-out)")
    ap.add_argument(
        "--merge", type=Path, nargs="+", help="combine the --out files of runs on subsets"
    )
    args = ap.parse_args(argv)
    if args.merge:
        if args.out is None:
            raise TransferError("python -m ml.transfer --merge: --out is required")
        write_bytes_atomic(args.out, (json.dumps(merge(args.merge), indent=1) + "\n").encode())
        return 0
    if args.show:
        params = load_params(args.params)
        engines = params["transfer"]["engines"]
        print(table(args.show, args.evaluate, args.features, engines, recipe_digest(params)))
        return 0
    if args.features is None or args.out is None:
        raise TransferError("python -m ml.transfer: --features and --out are required")
    params = load_params(args.params)
    if args.engines:
        params["transfer"]["engines"] = args.engines.split(",")
    if args.epochs is not None:
        if args.epochs < 1:
            raise TransferError(f"--epochs = {args.epochs} must be at least 1")
        params["transfer"]["epochs"] = args.epochs
    if args.seeds is not None:
        if not 1 <= args.seeds <= MAX_SEEDS:
            raise TransferError(f"--seeds = {args.seeds} must be in [1, {MAX_SEEDS}]")
        params["transfer"]["seeds"] = args.seeds
    result = run(params, args.features, minimum=1 if args.engines else 2)
    write_bytes_atomic(args.out, (json.dumps(result, indent=1) + "\n").encode())
    log.info("worst held-out engine %s: %.4f", result["worst_engine"], result["worst_accuracy"])
    return 0


if __name__ == "__main__":
    run_main(main)
