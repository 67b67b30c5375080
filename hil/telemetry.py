"""Device telemetry: poll a board's `id` and `stats` and append one JSON line per poll to the
telemetry store (a folder tracked by DVC: `telemetry.dvc`), one file per board per day.

    python -m hil.telemetry --board esp32 --port /dev/ttyUSB0 [--name kitchen-1]
        [--store telemetry] [--polls 1] [--interval-s 60]

Each line: board (the name), board_type, fw, model_sha256, time (UTC, ISO 8601), port,
uptime_ms, `totals` (the counters since boot as `stats` reports them), `delta` (the counters
since the previous poll of this board) and `reset`: true when the board restarted or was
re-flashed since the previous poll (uptime went down, a counter went down, or the model
changed); then `delta` is the totals since the restart. The first poll of a board counts
everything since its boot. Store: `<store>/<name>/<YYYY-MM-DD>.jsonl`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
from pathlib import Path
from typing import Any

from hil.client import BoardError, Client
from hil.session import add_board_args, board_name, open_board
from ml.errors import KwsError, run_main

log = logging.getLogger(__name__)

COUNTERS = ("inferences", "errors", "crc_errors", "timeouts")


class TelemetryError(KwsError):
    """A board could not be polled or the store is unusable."""


def totals(stats: dict[str, Any]) -> dict[str, Any]:
    """The counters of a parsed `m-stats` (hil.client.Client.stats) as stored."""
    out: dict[str, Any] = {k: int(stats[k]) for k in COUNTERS}
    out["detections"] = {k: int(v) for k, v in stats["detections"].items()}
    out["hist"] = [int(v) for v in stats["hist"]]
    return out


def _went_down(now: dict[str, Any], before: dict[str, Any]) -> bool:
    if any(now[k] < before.get(k, 0) for k in COUNTERS):
        return True
    if any(v < before.get("detections", {}).get(k, 0) for k, v in now["detections"].items()):
        return True
    old_hist = before.get("hist") or []
    return len(old_hist) == len(now["hist"]) and any(
        a < b for a, b in zip(now["hist"], old_hist, strict=True)
    )


def delta(now: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: now[k] - before.get(k, 0) for k in COUNTERS}
    old_det = before.get("detections", {})
    out["detections"] = {k: v - old_det.get(k, 0) for k, v in now["detections"].items()}
    old_hist = before.get("hist") or [0] * len(now["hist"])
    out["hist"] = [a - b for a, b in zip(now["hist"], old_hist, strict=True)]
    return out


def record(
    name: str,
    port: str,
    *,
    ident: dict[str, str],
    stats: dict[str, Any],
    last: dict | None,
    now: float,
) -> dict[str, Any]:
    """One telemetry line from a poll and the board's previous line (None: first poll)."""
    cur = totals(stats)
    uptime = int(stats["uptime_ms"])
    reset = last is not None and (
        uptime < int(last.get("uptime_ms", 0))
        or last.get("model_sha256") != ident.get("model_sha256")
        or _went_down(cur, last.get("totals", {}))
    )
    base = {} if last is None or reset else last["totals"]
    return {
        "board": name,
        "board_type": ident.get("board", ""),
        "fw": ident.get("fw", ""),
        "model_sha256": ident.get("model_sha256", ""),
        "time": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds"),
        "port": port,
        "uptime_ms": uptime,
        "reset": reset,
        "first": last is None,
        "totals": cur,
        "delta": delta(cur, base),
    }


def board_files(store: Path, name: str) -> list[Path]:
    return sorted((store / name).glob("*.jsonl"))


def last_record(store: Path, name: str) -> dict[str, Any] | None:
    """The newest line of the board's newest day file (a torn last line is skipped)."""
    for path in reversed(board_files(store, name)):
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise TelemetryError(f"{path}: unreadable telemetry ({exc.strerror})") from None
        for line in reversed(lines):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s: skipping a malformed line", path)
                continue
            if isinstance(rec, dict) and isinstance(rec.get("totals"), dict):
                return rec
    return None


def append(store: Path, rec: dict[str, Any]) -> Path:
    day = rec["time"][:10]
    path = store / rec["board"] / f"{day}.jsonl"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:  # one short line per write: appends do not interleave
            f.write(json.dumps(rec, sort_keys=True) + "\n")
    except OSError as exc:
        raise TelemetryError(f"{path}: cannot append telemetry ({exc.strerror})") from None
    return path


def poll(client: Client, store: Path, name: str, port: str) -> dict[str, Any]:
    ident = client.identity()
    stats = client.stats()
    rec = record(
        name, port, ident=ident, stats=stats, last=last_record(store, name), now=time.time()
    )
    path = append(store, rec)
    d = rec["delta"]
    log.info(
        "telemetry: %s: +%d inferences, +%d errors%s -> %s",
        name,
        d["inferences"],
        d["errors"],
        " (reset detected)" if rec["reset"] else "",
        path,
    )
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.telemetry", description=__doc__.split("\n")[0])
    add_board_args(ap, interval_s=60.0)
    ap.add_argument("--store", type=Path, default=Path("telemetry"), help="telemetry folder")
    args = ap.parse_args(argv)
    name = board_name(args, TelemetryError)
    where = f"telemetry: {name} ({args.board}) on {args.port}"
    try:
        with open_board(args, name, "telemetry") as client:
            for i in range(args.polls):
                if i:
                    time.sleep(args.interval_s)
                poll(client, args.store, name, args.port)
    except BoardError as exc:
        raise TelemetryError(f"{where}: {exc}") from None
    return 0


if __name__ == "__main__":
    run_main(main)
