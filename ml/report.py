"""The pull-request report: what this change does to the model, against a base commit.

    python -m ml.report --base origin/main [--out build/report]
    python -m ml.report --comment --pr 12      # post/update the sticky PR comment (gh)

Sections: `dvc params diff` and `dvc metrics diff` against the base; per-board budget table
old -> new (model, arena, RAM, board image flash where built, estimated latency) with rows
over budget marked; quality gates; virtual-HIL results (hil/results/<board>/); plots as PNG
images under build/report/ (per-class recall old vs new, budget use old vs new, confusion
matrix, training curves when the pipeline ran here); the MLflow version of the exported model
(found by its sha256; ml/registry.py). Printed as Markdown,
written to build/report/report.md and appended to $GITHUB_STEP_SUMMARY when set.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from hil.boards import BOARDS_FILE
from ml.bundle import gate_results
from ml.errors import KwsError, run_main
from ml.pr_comment import MARKER, comment
from ml.report_budget import budget_chart, budget_table

log = logging.getLogger("ml.report")
METRICS = Path("metrics/evaluate.json")
SETTINGS = Path("firmware/generated/model_settings.json")


class ReportError(KwsError):
    """The base cannot be read or an input of the report is unusable."""


def resolve_base(base: str) -> str:
    for ref in (base, base.removeprefix("origin/")):
        done = subprocess.run(
            ["git", "rev-parse", "-q", "--verify", f"{ref}^{{commit}}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            return ref
    raise ReportError(f"BASE '{base}': not a commit in this repository (fetch it first)")


def dvc(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "dvc", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ReportError(f"dvc {' '.join(args)}: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout.strip()


def table_or(md: str, empty: str) -> str:
    """dvc's Markdown table, or `empty` when it has no rows (header and rule only)."""
    return md if len([ln for ln in md.splitlines() if ln.strip()]) > 2 else empty


def json_at(ref: str | None, path: Path) -> dict[str, Any]:
    """A JSON file at a commit (ref) or in the work tree (None); {} when absent."""
    try:
        if ref is None:
            text = path.read_text()
        else:
            done = subprocess.run(
                ["git", "show", f"{ref}:{path.as_posix()}"],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                return {}
            text = done.stdout
        data = json.loads(text)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def gates_section(new: dict[str, Any]) -> tuple[str, bool]:
    res = gate_results(new)
    if not res:
        return "no gate results in metrics/evaluate.json", False
    lines = [f"- {'passed' if ok else '**FAILED**'}: `{name}`" for name, ok in sorted(res.items())]
    return "\n".join(lines), all(res.values())


def hil_section(results: Path, boards: list[str]) -> str:
    from hil.metrics import TABLE, read_metrics

    have = [b for b in boards if (results / b / "metrics.json").is_file()]
    if not have:
        return f"no virtual-HIL results in {results}/ (run `make hil-virtual`)"
    data = {b: read_metrics(results / b / "metrics.json") for b in have}
    lines = ["| figure | " + " | ".join(have) + " |", "|---|" + "---:|" * len(have)]
    for name, heading, form in TABLE:
        cells = [form.format(data[b][name]["value"]) if name in data[b] else "-" for b in have]
        lines.append(f"| {heading} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plots(
    out: Path, ref: str, boards: dict[str, Any], old: dict[str, Any], new: dict[str, Any]
) -> tuple[list[Path], list[str]]:
    """The pipeline's DVC plots, base vs this change (ml.plots: training curves, per-class
    recall, confusion), and the per-board budget chart. Returns the images and the plots
    that could not be drawn (e.g. an image the base's DVC cache does not hold)."""
    from ml.plots import collect, render_all

    problems: list[str] = []
    written, _ = render_all(collect([ref], problems), out)
    budgets = budget_chart(out / "budgets.png", boards, old, new)
    return [*written.values(), budgets], problems


def with_per_class(m: dict[str, Any], ref: str | None, metrics: Path) -> dict[str, Any]:
    """evaluate's per-class figures live beside it in plots/per_class.json (a list)."""
    if m.get("per_class"):
        return m
    path = metrics.parent / "plots" / "per_class.json"
    try:
        text = path.read_text() if ref is None else subprocess.run(
            ["git", "show", f"{ref}:{path.as_posix()}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        rows = json.loads(text)
    except (OSError, ValueError, subprocess.CalledProcessError):
        return m
    if isinstance(rows, list):
        m = {
            **m,
            "per_class": {r["label"]: r for r in rows if isinstance(r, dict) and "label" in r},
        }
    return m


def mlflow_section(settings: Path) -> str:
    """The registry's version of this change's model (by the export's sha256), if any."""
    from ml import registry
    from ml.redact import redact_uri

    sha = json_at(None, settings).get("model", {}).get("sha256")
    if not isinstance(sha, str):
        return f"no {settings} (export stage not run)"
    uri = registry.tracking_uri()
    shown = f"model sha256 `{sha[:16]}`"
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return f"{shown}: no MLflow registry at {uri} (the register stage has not run here)"
    try:
        found = registry.versions_with_sha(sha)
    except KwsError as exc:
        return f"{shown}: {exc}"
    if not found:
        return f"{shown}: not registered at {redact_uri(uri)} (register runs after the gates)"
    v = found[-1]  # the first version of these bytes: the one register keeps
    return (
        f"`{registry.MODEL_NAME}` version {v['version']}, run `{v['run_id']}`, {shown} "
        f"({redact_uri(uri)})"
    )


def build_report(base: str, out: Path, metrics: Path, results: Path) -> str:
    ref = resolve_base(base)
    boards = yaml.safe_load(BOARDS_FILE.read_text())
    old = with_per_class(json_at(ref, METRICS), ref, METRICS)
    new = with_per_class(json_at(None, metrics), None, metrics)
    if not new:
        raise ReportError(f"{metrics}: missing or not JSON (run the pipeline)")
    out.mkdir(parents=True, exist_ok=True)
    params_md = table_or(dvc("params", "diff", ref, "--md"), "no parameter changes")
    metrics_md = table_or(dvc("metrics", "diff", ref, "--md"), "no metric changes")
    gates, gates_ok = gates_section(new)
    images, missing = plots(out, ref, boards, old, new)
    link = os.environ.get("REPORT_ARTIFACT_URL")
    img_md = "\n".join(
        f"- [{p.name}]({link})" if link else f"![{p.stem}]({p.as_posix()})" for p in images
    ) + "".join(f"\n- not drawn: {m}" for m in missing)
    mlflow = mlflow_section(SETTINGS)
    return f"""{MARKER}
## Model report: this change vs `{base}`

### Gates: {"all passed" if gates_ok else "**FAILED**"}
{gates}

### Budgets per board (base -> this PR)
{budget_table(boards, old, new)}

### Params diff (`dvc params diff {ref}`)
{params_md}

### Metrics diff (`dvc metrics diff {ref}`)
{metrics_md}

### Virtual HIL
{hil_section(results, list(boards))}

### Plots
{img_md}

### MLflow
{mlflow}
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.report", description=__doc__.split("\n")[0])
    ap.add_argument("--base", help="git ref to compare with (e.g. origin/main, HEAD~1)")
    ap.add_argument("--out", type=Path, default=Path("build/report"))
    ap.add_argument("--metrics", type=Path, default=METRICS)
    ap.add_argument("--results", type=Path, default=Path("hil/results"))
    ap.add_argument("--comment", action="store_true", help="post the sticky PR comment")
    ap.add_argument("--pr", default="")
    args = ap.parse_args(argv)
    if args.comment:
        comment(args.pr, args.out / "report.md")
        return 0
    if not args.base:
        raise ReportError("make report: BASE=<git ref> is required (e.g. BASE=origin/main)")
    md = build_report(args.base, args.out, args.metrics, args.results)
    (args.out / "report.md").write_text(md)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as f:
            f.write(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    run_main(main)
