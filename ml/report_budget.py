"""The report's per-board budget table and chart: model, arena, RAM, board image flash and
estimated latency, base -> this change, against hil/boards.yaml's budgets."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def image_bytes(board: str) -> int | None:
    """The board app's flash size when it was built here (firmware/build_board.sh output)."""
    root = Path("build/firmware") / board
    if board == "esp32":
        app = sorted(root.glob("*.bin")) if root.is_dir() else []
        app = [p for p in app if "bootloader" not in p.name and "partition" not in p.name]
    else:
        app = sorted(root.glob("*.ino.bin")) if root.is_dir() else []
    return app[0].stat().st_size if app else None


def board_rows(board: str, facts: dict[str, Any], old: dict[str, Any], new: dict[str, Any]):
    """(figure, old, new, budget, over) rows for one board."""

    def b(m: dict[str, Any], key: str) -> Any:
        v = m.get(board)
        return v.get(key) if isinstance(v, dict) else None

    flash = image_bytes(board)
    return [
        ("model (bytes)", old.get("model_bytes"), new.get("model_bytes"),
         facts.get("model_budget_bytes")),
        ("tensor arena (bytes)", old.get("arena_bytes"), new.get("arena_bytes"),
         facts.get("arena_budget_bytes")),
        ("RAM (bytes)", b(old, "ram_bytes"), b(new, "ram_bytes"), facts.get("ram_budget_bytes")),
        ("board image flash (bytes)", None, flash if flash is not None else "not built here",
         facts.get("flash_budget_bytes")),
        ("est. latency (ms, lower bound)", b(old, "est_latency_ms"), b(new, "est_latency_ms"),
         facts.get("latency_bound_ms")),
    ]  # fmt: skip


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def budget_table(boards: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> str:
    lines = ["| board | figure | base | this PR | budget | |", "|---|---|---:|---:|---:|---|"]
    for board, facts in boards.items():
        for name, o, n, budget in board_rows(board, facts, old, new):
            over = isinstance(n, (int, float)) and budget is not None and n > budget
            mark = "**OVER BUDGET**" if over else ("ok" if isinstance(n, (int, float)) else "")
            lines.append(f"| {board} | {name} | {fmt(o)} | {fmt(n)} | {fmt(budget)} | {mark} |")
    return "\n".join(lines)


def budget_chart(
    path: Path, boards: dict[str, Any], old: dict[str, Any], new: dict[str, Any]
) -> Path:
    """Bars of each figure as % of its board's budget, base vs this change (Vega-Lite PNG)."""
    from ml.plots import render_png

    rows = []
    for board, facts in boards.items():
        for name, o, n, budget in board_rows(board, facts, old, new):
            if budget and isinstance(n, (int, float)):
                figure = f"{board} {name.split(' (')[0]}"
                if isinstance(o, (int, float)):
                    rows.append({"figure": figure, "rev": "base", "pct": 100.0 * o / budget})
                rows.append({"figure": figure, "rev": "this change", "pct": 100.0 * n / budget})
    render_png(
        {
            "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "title": "% of each board's budget (red: the budget)",
            "width": 520,
            "layer": [
                {
                    "data": {"values": rows},
                    "mark": "bar",
                    "encoding": {
                        "y": {"field": "figure", "type": "nominal", "title": None},
                        "yOffset": {"field": "rev"},
                        "x": {"field": "pct", "type": "quantitative", "title": "% of budget"},
                        "color": {"field": "rev", "type": "nominal", "title": None},
                    },
                },
                {
                    "data": {"values": [{"pct": 100}]},
                    "mark": {"type": "rule", "color": "red"},
                    "encoding": {"x": {"field": "pct", "type": "quantitative"}},
                },
            ],
        },
        path,
    )
    return path
