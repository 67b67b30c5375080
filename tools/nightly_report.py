"""nightly_report.py build/nightly: what changed between the pinned and the latest nightly
runs (step exit codes, metrics, failing tests, resolved versions) as Markdown, printed and
appended to $GITHUB_STEP_SUMMARY. Artifacts may sit in build/nightly/nightly-<deps>/."""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def run_dir(root: Path, deps: str) -> Path:
    for cand in (root / f"nightly-{deps}", root / deps):
        if cand.is_dir():
            return cand
    return root / deps


def versions(d: Path) -> dict[str, str]:
    try:
        lines = (d / "versions.txt").read_text().splitlines()
    except OSError:
        return {}
    return dict(ln.split("==", 1) for ln in lines if "==" in ln)


def metrics(d: Path) -> dict[str, float]:
    try:
        data = json.loads((d / "metrics/evaluate.json").read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, (int, float))}


def failing(d: Path) -> set[str]:
    out = set()
    for xml in (d / "hil").rglob("junit*.xml") if (d / "hil").is_dir() else []:
        try:
            root = ET.parse(xml).getroot()
        except (ET.ParseError, OSError):
            out.add(f"{xml}: unreadable")
            continue
        for case in root.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                out.add(f"{xml.parent.name}::{case.get('name')}")
    return out


def status(d: Path) -> str:
    try:
        return ", ".join(
            ln.replace(" ", "=") for ln in (d / "status.txt").read_text().split("\n") if ln
        )
    except OSError:
        return "no run"


def report(root: Path) -> str:
    a, b = run_dir(root, "pinned"), run_dir(root, "latest")
    lines = ["## Nightly: pinned vs latest dependencies", ""]
    lines += [f"- pinned: {status(a)}", f"- latest: {status(b)}", "", "### Metrics", ""]
    ma, mb = metrics(a), metrics(b)
    lines += ["| metric | pinned | latest |", "|---|---:|---:|"]
    lines += [f"| {k} | {ma.get(k, '-')} | {mb.get(k, '-')} |" for k in sorted(set(ma) | set(mb))
              if ma.get(k) != mb.get(k)] or ["| (no differences) | | |"]  # fmt: skip
    fa, fb = failing(a), failing(b)
    lines += ["", "### Failing tests", "", f"- only with latest: {sorted(fb - fa) or 'none'}",
              f"- only with pinned: {sorted(fa - fb) or 'none'}"]  # fmt: skip
    va, vb = versions(a), versions(b)
    changed = [f"| {k} | {va.get(k, '-')} | {vb.get(k, '-')} |" for k in sorted(set(va) | set(vb))
               if va.get(k) != vb.get(k)]  # fmt: skip
    lines += ["", f"### Resolved versions ({len(changed)} differ)", ""]
    lines += ["| package | pinned | latest |", "|---|---|---|", *changed]
    return "\n".join(lines) + "\n"


def main() -> int:
    if len(sys.argv) != 2:
        print("error: usage: nightly_report.py <nightly dir>", file=sys.stderr)
        return 2
    md = report(Path(sys.argv[1]))
    print(md)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as f:
            f.write(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
