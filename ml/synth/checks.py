"""Checks before any audio is made: the synth params' ranges and relations (low <= high,
words a speech engine can say, no keyword among the unknown words or their homophones) and
the configured engines' installation (one line naming the package or voice)."""

from __future__ import annotations

import re
from typing import Any

from ml.params import ParamsError
from ml.synth.engines import engine
from ml.synth.speakers import engine_counts

# Words that sound exactly like a keyword: as _unknown_ they would teach the model that the
# keyword's own sound is not the keyword.
HOMOPHONES = {"know": "no", "write": "right", "rite": "right", "wright": "right"}


def check_synth_params(params: dict[str, Any], src: str) -> None:
    sp = params["synth"]
    for key in ("peak_dbfs", "snr_db"):
        if sp[f"{key}_min"] > sp[f"{key}_max"]:
            raise ParamsError(f"{src}: synth.{key}_min must not exceed synth.{key}_max")
    pairs = [("espeak", "rate_wpm"), ("espeak", "pitch"), ("speaker", "warp")]
    pairs += [("flite", "duration_stretch"), ("festival", "duration_stretch")]
    pairs += [("piper", k) for k in ("length_scale", "noise_scale", "noise_w")]
    pairs += [("kokoro", "speed")]
    pairs += [("room", k) for k in ("width_m", "depth_m", "height_m", "rt60_s", "distance_m")]
    pairs += [("mic", "highpass_hz"), ("mic", "lowpass_hz")]
    for section, key in pairs:
        if sp[section][key][0] > sp[section][key][1]:
            raise ParamsError(f"{src}: synth.{section}.{key} must be [low, high]")
    if not engine_counts(sp):
        raise ParamsError(f"{src}: synth.engines gives no speakers")
    for word in [*params["dataset"]["keywords"], *sp["unknown_words"]]:
        if not re.fullmatch(r"[a-z]+(?:[ '-][a-z]+)*", word):
            raise ParamsError(f"{src}: word {word!r} must be plain lowercase letters")
    clash = set(sp["unknown_words"]) & set(params["dataset"]["keywords"])
    if clash:
        raise ParamsError(
            f"{src}: synth.unknown_words contains keywords: {', '.join(sorted(clash))}"
        )
    same = [
        f"{w} (sounds like {HOMOPHONES[w]})"
        for w in sp["unknown_words"]
        if HOMOPHONES.get(w) in params["dataset"]["keywords"]
    ]
    if same:
        raise ParamsError(
            f"{src}: synth.unknown_words has homophones of keywords: {', '.join(same)}"
        )


def check_engines(params: dict[str, Any]) -> None:
    """Fail early, naming the package or voice, when a configured engine is not usable."""
    sp = params["synth"]
    for name in engine_counts(sp):
        engine(name).check(sp[name])
