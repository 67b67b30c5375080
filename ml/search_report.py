"""The search's results: a table sorted by the objective and the Pareto front as a plot.

Objective: int8 test accuracy; when the evaluate metrics hold a held-out-engine (transfer)
accuracy, the mean of the two. Latencies are estimates (MACs / (MACs per cycle x clock),
`ml.budget`), one column per board of hil/boards.yaml. False accepts per hour and streaming
recall (keywords a listening board detects, `ml.kw_stream`) sit beside the accuracy: a
candidate that scores on clips can still miss the words of a stream. The front is taken
over accuracy and the estimated latency on the first searched board.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from ml import budget
from ml.search_space import Candidate, describe, exp_name

log = logging.getLogger(__name__)
_TRANSFER = re.compile(r"(transfer|held_?out)", re.IGNORECASE)


def transfer_accuracy(metrics: dict[str, Any]) -> float | None:
    """A held-out-engine accuracy from the evaluate metrics, when the pipeline reports one."""
    for key, value in metrics.items():
        if _TRANSFER.search(key) and "acc" in key.lower() and isinstance(value, (int, float)):
            return float(value)
    return None


def objective(metrics: dict[str, Any]) -> float:
    acc = float(metrics["accuracy_int8"])
    t = transfer_accuracy(metrics)
    return acc if t is None else (acc + t) / 2.0


def figures(m: dict[str, Any], boards: dict[str, Any]) -> dict[str, Any]:
    """The table's figures from one evaluate metrics file."""
    return {
        "accuracy_int8": float(m["accuracy_int8"]),
        "transfer": transfer_accuracy(m),
        "objective": objective(m),
        "fa_per_hour": m.get("false_accepts_per_hour"),
        "stream_recall": m.get("streaming_recall"),
        "model_bytes": int(m["model_bytes"]),
        "arena_bytes": int(m["tensor_arena_size"]),
        "macs": int(m["macs"]),
        "latency_ms": {b: budget.est_latency_ms(int(m["macs"]), f) for b, f in boards.items()},
    }


def rows(
    chosen: list[Candidate], results: dict[str, dict[str, Any]], boards: dict[str, Any]
) -> list[dict[str, Any]]:
    """One row per trained candidate of this search, best objective first."""
    out = []
    for c in chosen:
        rec = results.get(exp_name(c))
        if rec is None:
            continue
        row: dict[str, Any] = {"exp": rec["exp"], "label": describe(c), "run_s": rec["run_s"]}
        if "error" in rec:
            row["error"] = rec["error"]
            out.append(row)
            continue
        row.update(figures(rec["metrics"], boards))
        row["instructions"] = (rec.get("emulated") or {}).get("instructions_per_inference")
        out.append(row)
    out.sort(key=lambda r: (-r.get("objective", -1.0), r.get("macs", 0)))
    return out


def pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both (lower latency, higher accuracy)."""
    front = []
    for i, (lat, acc) in enumerate(points):
        dominated = any(
            (lat2 <= lat and acc2 >= acc) and (lat2 < lat or acc2 > acc)
            for j, (lat2, acc2) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return front


def table(
    trained: list[dict[str, Any]],
    front: set[str],
    boards: list[str],
    baseline: dict[str, Any] | None = None,
) -> str:
    """Markdown table, best first; the baseline (today's params.yaml model) as row `base`."""
    listed = ([baseline] if baseline else []) + trained
    has_t = any(r.get("transfer") is not None for r in listed)
    has_i = any(r.get("instructions") is not None for r in listed)
    head = ["#", "experiment", "candidate", "int8 acc"] + (["transfer acc"] if has_t else [])
    head += ["FA/h", "stream recall", "model B", "arena B", "MACs"]
    head += [f"est ms {b}" for b in boards]
    head += (["emu. instr nano33ble"] if has_i else []) + ["run s", "front"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    numbered = [("base", baseline)] if baseline else []
    numbered += [(str(n), r) for n, r in enumerate(trained, 1)]
    for n, r in numbered:
        if "error" in r:
            cells = [n, r["exp"], r["label"], "failed: " + r["error"].replace("|", "\\|")]
            cells += [""] * (len(head) - len(cells))
        else:
            cells = [n, r["exp"], r["label"], f"{r['accuracy_int8'] * 100:.2f}%"]
            if has_t:
                t = r.get("transfer")
                cells.append("-" if t is None else f"{t * 100:.2f}%")
            cells += [
                "-" if r["fa_per_hour"] is None else f"{r['fa_per_hour']:g}",
                "-" if r["stream_recall"] is None else f"{r['stream_recall'] * 100:.1f}%",
                f"{r['model_bytes']:,}",
                f"{r['arena_bytes']:,}",
                f"{r['macs'] / 1e6:.2f} M",
            ]
            cells += [f"{r['latency_ms'][b]:.1f}" for b in boards]
            if has_i:  # instructions per inference on the emulated Cortex-M4 (QEMU -icount)
                i = r.get("instructions")
                cells.append("-" if i is None else f"{i / 1e6:.2f} M")
            run_s = "-" if r.get("run_s") is None else f"{r['run_s']:.0f}"
            cells += [run_s, "*" if r["exp"] in front else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(
    trained: list[dict[str, Any]],
    front: set[str],
    board: str,
    path: Path,
    baseline: dict[str, Any] | None = None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in trained if "error" not in r]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for on_front, color in ((False, "0.6"), (True, "tab:red")):
        pts = [r for r in ok if (r["exp"] in front) == on_front]
        ax.scatter(
            [r["latency_ms"][board] for r in pts],
            [r["objective"] * 100 for r in pts],
            s=[max(12.0, r["arena_bytes"] / 200.0) for r in pts],
            c=color,
            alpha=0.7,
            label="Pareto front" if on_front else "candidate",
        )
    line = sorted((r["latency_ms"][board], r["objective"] * 100) for r in ok if r["exp"] in front)
    if line:
        ax.plot(*zip(*line, strict=True), color="tab:red", lw=1)
    for r in ok:
        ax.annotate(r["label"].split(",")[0], (r["latency_ms"][board], r["objective"] * 100),
                    fontsize=6, xytext=(3, 3), textcoords="offset points")  # fmt: skip
    if baseline:  # a line, not a point: the default is often far to the right of the front
        ax.axhline(baseline["objective"] * 100, color="tab:blue", ls="--", lw=1)
        ax.annotate(
            f"baseline {baseline['label']}: {baseline['objective'] * 100:.2f}%, "
            f"est {baseline['latency_ms'][board]:.1f} ms",
            (0.01, baseline["objective"] * 100), xycoords=("axes fraction", "data"),
            fontsize=7, color="tab:blue", xytext=(0, 3), textcoords="offset points",
        )  # fmt: skip
    ax.set_xlabel(f"estimated latency on {board} (ms, MACs / (MACs per cycle x clock))")
    ax.set_ylabel("objective: int8 test accuracy (%)")
    ax.set_title("model search: accuracy vs latency (marker area ~ tensor arena)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    out: Path,
    names: list[str],
    boards: dict[str, Any],
    *,
    chosen: list[Candidate],
    rejected: list[tuple[Candidate, list[str]]],
    results: dict[str, dict[str, Any]],
    baseline: dict[str, Any] | None = None,
) -> str:
    """Write <out>/search-<boards>.md and .png; print and return the table. `baseline` is a
    row of figures() plus `exp` and `label` for the model params.yaml builds today."""
    trained = rows(chosen, results, boards)
    ok = [r for r in trained if "error" not in r]
    idx = pareto([(r["latency_ms"][names[0]], r["objective"]) for r in ok])
    front = {ok[i]["exp"] for i in idx}
    tag = "-".join(names)
    text = table(trained, front, list(boards), baseline)
    reasons = "\n".join(f"- {describe(c)}: {'; '.join(why)}" for c, why in rejected)
    md = (
        f"# Model search for {', '.join(names)}\n\n{len(ok)} trained, "
        f"{len(trained) - len(ok)} failed, {len(rejected)} rejected before training.\n"
        f"Sorted by the objective (int8 accuracy; mean with the transfer accuracy when it "
        f"exists). Latencies are estimates. `*` = Pareto front on {names[0]}; `base` = the "
        f"model params.yaml builds today (the workspace's metrics/evaluate.json).\n\n{text}\n\n"
        f"## Rejected before training (shape-only int8 build)\n\n{reasons or '- none'}\n"
    )
    (out / f"search-{tag}.md").write_text(md)
    if ok:
        plot(trained, front, names[0], out / f"pareto-{tag}.png", baseline)
    print(text)
    print(f"search: table {out / f'search-{tag}.md'}, plot {out / f'pareto-{tag}.png'}")
    return text
