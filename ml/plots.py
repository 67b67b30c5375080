"""Render the pipeline's plots (the ones dvc.yaml declares) to PNG and to an offline HTML page.

    python -m ml.plots --out dvc_plots [--rev BASE ...]

DVC fills each Vega-Lite template with the data of every revision asked for (`dvc plots show`,
or `dvc plots diff BASE` for a before/after); this module turns each spec into a PNG with
vl-convert (Vega, Vega-Lite and vega-embed bundled in the wheel: no network) and writes an
`index.html` of the PNGs with a self-contained interactive page per plot, so everything
renders without internet (DVC's own HTML loads its charting library from a CDN).
Image plots (confusion.png) are copied, one file per revision.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ml.errors import KwsError, run_main
from ml.fsutil import write_bytes_atomic

log = logging.getLogger(__name__)


class PlotsError(KwsError):
    """DVC could not collect the plots, or a plot could not be rendered."""


def dvc_bin() -> str:
    """The dvc next to this interpreter (the project's venv), else the one on PATH."""
    local = Path(sys.executable).with_name("dvc")
    return str(local) if local.exists() else "dvc"


def collect(revs: list[str], problems: list[str] | None = None) -> dict[str, Any]:
    """`dvc plots show|diff --json`: {plot id: [rendered items]}; errors are one line.

    With `problems`, a plot that a revision lacks is noted there instead of raised (a report
    shows the plots that exist); DVC itself failing still raises."""
    cmd = (
        [dvc_bin(), "plots", "diff", *revs, "--json"]
        if revs
        else [dvc_bin(), "plots", "show", "--json"]
    )
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise PlotsError(f"{' '.join(cmd[1:])}: {last}")
    try:
        shown = json.loads(res.stdout)
    except json.JSONDecodeError as exc:
        raise PlotsError(f"{' '.join(cmd[1:])}: unreadable JSON ({exc})") from None
    for err in shown.get("errors") or []:
        msg = (
            f"plots of revision {err.get('rev', 'workspace')}: {err.get('msg') or err.get('type')}"
        )
        if problems is None:
            raise PlotsError(msg)
        problems.append(msg)
    return shown.get("data", shown)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def render_png(spec: dict[str, Any], path: Path) -> None:
    import vl_convert

    try:
        png = vl_convert.vegalite_to_png(spec, scale=2)
    except Exception as exc:  # vl-convert raises plain ValueError/RuntimeError with a message
        raise PlotsError(f"{path.name}: cannot render ({str(exc).splitlines()[0]})") from None
    write_bytes_atomic(path, png)


def render_all(
    data: dict[str, Any], out: Path
) -> tuple[dict[str, Path], dict[str, dict[str, Any]]]:
    """One PNG per Vega plot; image plots copied per revision.

    Returns {title: file written} and {title: Vega-Lite spec} for the Vega plots.
    """
    written: dict[str, Path] = {}
    specs: dict[str, dict[str, Any]] = {}
    for plot_id, items in sorted(data.items()):
        for item in items:
            if item.get("type") == "vega":
                path = out / f"{slug(plot_id)}.png"
                render_png(item["content"], path)
                title = plot_id
                specs[title] = item["content"]
            elif item.get("type") == "image":
                rev = (item.get("revisions") or ["workspace"])[0]
                path = out / f"{slug(rev)}_{slug(Path(plot_id).name)}"
                shutil.copyfile(item["url"], path)
                title = f"{plot_id} ({rev})"
            else:
                continue
            written[title] = path
    return written, specs


def write_html(written: dict[str, Path], specs: dict[str, dict[str, Any]], out: Path) -> Path:
    """index.html: every plot as its PNG, each Vega plot also as an interactive page.

    The interactive pages come from vl-convert with Vega, Vega-Lite and vega-embed inlined,
    so nothing is fetched from a CDN: they render offline.
    """
    import html

    import vl_convert

    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Pipeline plots</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}"
        "img{max-width:100%;border:1px solid #ddd}</style></head><body>",
        "<h1>Pipeline plots</h1>",
    ]
    for plot_id, png in written.items():
        parts.append(f"<h2>{html.escape(plot_id)}</h2>")
        if plot_id in specs:
            page = out / f"{png.stem}.html"
            write_bytes_atomic(
                page, vl_convert.vegalite_to_html(specs[plot_id], bundle=True).encode()
            )
            parts.append(f"<p><a href='{page.name}'>interactive</a></p>")
        parts.append(f"<img src='{png.name}' alt='{html.escape(plot_id)}'>")
    parts.append("</body></html>\n")
    index = out / "index.html"
    write_bytes_atomic(index, "\n".join(parts).encode())
    return index


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.plots", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for PNGs and index.html")
    ap.add_argument("--rev", action="append", default=[], help="also plot this revision")
    ap.add_argument("--no-html", action="store_true", help="only the PNGs")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    written, specs = render_all(collect(args.rev), args.out)
    for path in written.values():
        print(f"plots: {path}")
    if not args.no_html:
        print(f"plots: {write_html(written, specs, args.out)} (offline)")
    return 0


if __name__ == "__main__":
    run_main(main)
