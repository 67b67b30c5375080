"""`python -m ml.ci_summary hil RESULTS [BOARD ...]`: the HIL results of a job as a Markdown
table, printed and appended to $GITHUB_STEP_SUMMARY (when set): per board, the metrics of
hil/results/<board>/metrics.json and the JUnit counts."""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from hil.boards import board_names
from ml.errors import KwsError, run_main


def junit_counts(board_dir: Path) -> str:
    tests = failures = skipped = 0
    for xml in sorted(board_dir.glob("junit*.xml")):
        try:
            root = ET.parse(xml).getroot()
        except (ET.ParseError, OSError):
            return f"{xml.name}: unreadable"
        for suite in [root] if root.tag == "testsuite" else root.iter("testsuite"):
            tests += int(suite.get("tests", 0))
            failures += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped += int(suite.get("skipped", 0))
    return f"{tests} tests, {failures} failed, {skipped} skipped" if tests else "no JUnit report"


def hil_markdown(results: Path, boards: list[str]) -> str:
    from hil.metrics import TABLE, read_metrics

    have = [b for b in boards if (results / b).is_dir()]
    if not have:
        return f"### HIL\n\nno results in {results}/\n"
    data = {
        b: read_metrics(results / b / "metrics.json") if (results / b / "metrics.json").is_file()
        else {}
        for b in have
    }  # fmt: skip
    lines = ["### HIL", "", "| | " + " | ".join(have) + " |", "|---|" + "---:|" * len(have)]
    lines.append("| JUnit | " + " | ".join(junit_counts(results / b) for b in have) + " |")
    for name, heading, form in TABLE:
        cells = [form.format(data[b][name]["value"]) if name in data[b] else "-" for b in have]
        lines.append(f"| {heading} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or argv[0] != "hil":
        raise KwsError("usage: python -m ml.ci_summary hil RESULTS [BOARD ...]")
    md = hil_markdown(Path(argv[1]), argv[2:] or board_names())
    print(md)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as f:
            f.write(md + "\n")
    return 0


if __name__ == "__main__":
    run_main(main)
