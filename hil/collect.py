"""Field clips: take the clip a board kept because its top score fell in the uncertainty band
(firmware/PROTOCOL.md "Field clips") and save it laid out like the dataset, pending a label.

    python -m hil.collect --board esp32 --port /dev/ttyUSB0 [--name kitchen-1]
        [--band LO,HI | --band off] [--out field] [--polls 1] [--interval-s 10]

Each clip becomes `<out>/<predicted label>/<name>_<sha8>_nohash_<n>.wav` (16-bit mono at the
model's rate; `sha8`: the model's sha256, first 8 hex digits; `n`: the next free number) and a
sidecar `<same>.json` with the board, firmware, model, scores per label, band and
`"status": "pending-label"`. A person moves the wav to its true label's folder (see the
README, "Monitoring and continuous training"). `--band` sets the board's band first; without
it the band the board has is used (off after boot: nothing is ever kept). Nothing is written
when the board holds no clip.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import time
from pathlib import Path
from typing import Any

from hil.client import BoardError, Client
from hil.session import add_board_args, board_name, open_board
from ml.audio import write_wav
from ml.errors import KwsError, run_main
from ml.fsutil import write_json_atomic
from ml.params import LABEL_RE, load_params

log = logging.getLogger(__name__)
BAND_RE = re.compile(r"(-?\d{1,3}),(-?\d{1,3})")


class CollectError(KwsError):
    """A board could not be asked for its clip or the clip could not be saved."""


def parse_band(text: str) -> tuple[int, int] | None:
    if text == "off":
        return None
    m = BAND_RE.fullmatch(text)
    if not m or not -128 <= int(m[1]) <= int(m[2]) <= 127:
        raise CollectError(f"--band {text!r}: want LO,HI with -128 <= LO <= HI <= 127, or off")
    return int(m[1]), int(m[2])


def save_clip(
    out: Path,
    name: str,
    *,
    ident: dict[str, str],
    clip: dict[str, Any],
    labels: list[str],
    band: dict[str, str],
    sample_rate: int,
) -> Path:
    """Write the wav and its sidecar JSON; return the wav's path."""
    label = clip["label"]
    if label not in labels or not LABEL_RE.fullmatch(label):
        raise CollectError(f"{name}: m-clip label {label!r} is not one of the board's labels")
    folder = out / label
    prefix = f"{name}_{ident['model_sha256'][:8]}_nohash_"
    folder.mkdir(parents=True, exist_ok=True)
    taken = [int(p.stem[len(prefix) :]) for p in folder.glob(f"{prefix}*.wav")]
    n = max(taken, default=-1) + 1
    wav = folder / f"{prefix}{n}.wav"
    write_wav(wav, clip["pcm"], sample_rate)
    write_json_atomic(
        wav.with_suffix(".json"),
        {
            "status": "pending-label",
            "predicted": label,
            "score": int(clip["score"]),
            "scores": dict(zip(labels, clip["scores"], strict=True)),
            "band": band,
            "seq": int(clip["seq"]),
            "board": name,
            "board_type": ident.get("board", ""),
            "fw": ident.get("fw", ""),
            "model_sha256": ident.get("model_sha256", ""),
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    )
    return wav


def collect(
    client: Client,
    out: Path,
    name: str,
    *,
    band: tuple[int, int] | str | None,
    sample_rate: int,
    polls: int = 1,
    interval_s: float = 0.0,
) -> list[Path]:
    """Poll the board `polls` times; the clips saved (an empty list when none was held)."""
    ident = client.identity()
    labels = client.labels()
    state = (
        client.clipband(band) if band != "keep" else client.command("clipband").fields("m-clipband")
    )
    saved: list[Path] = []
    for i in range(polls):
        if i:
            time.sleep(interval_s)
        clip = client.clip()
        if clip is None:
            log.info("collect: %s: no clip in the band %s", name, _band_text(state))
            continue
        wav = save_clip(
            out, name, ident=ident, clip=clip, labels=labels, band=state, sample_rate=sample_rate
        )
        log.info("collect: %s: %s (%s %s)", name, wav, clip["label"], clip["score"])
        saved.append(wav)
    return saved


def _band_text(state: dict[str, str]) -> str:
    return f"[{state['lo']}, {state['hi']}]" if state.get("state") == "on" else "(off)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.collect", description=__doc__.split("\n")[0])
    add_board_args(ap, interval_s=10.0)
    ap.add_argument("--band", help="LO,HI (int8 top scores) or off; default: keep the board's")
    ap.add_argument("--out", type=Path, default=Path("field"), help="field clips folder")
    args = ap.parse_args(argv)
    name = board_name(args, CollectError)
    band = parse_band(args.band) if args.band is not None else "keep"
    sample_rate = load_params(args.params)["dataset"]["sample_rate"]
    try:
        with open_board(args, name, "collect") as client:
            saved = collect(
                client,
                args.out,
                name,
                band=band,
                sample_rate=sample_rate,
                polls=args.polls,
                interval_s=args.interval_s,
            )
    except BoardError as exc:
        raise CollectError(f"collect: {name} ({args.board}) on {args.port}: {exc}") from None
    except OSError as exc:
        raise CollectError(f"{args.out}: cannot save field clips ({exc.strerror})") from None
    print(f"collect: {name}: {len(saved)} clip(s) saved under {args.out}")
    return 0


if __name__ == "__main__":
    run_main(main)
