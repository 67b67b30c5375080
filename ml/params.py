"""Load and validate params.yaml: the one place every tunable lives.

Each stage calls `load_params()` and reads the sections it needs. Validation is strict:
an unknown or misspelt key, a wrong type or an out-of-range value is a `ParamsError` whose
message is one line naming the file and the dotted key.

The file is read with YAML 1.2 rules (ruamel.yaml, as DVC writes it back on `dvc exp run -S`):
`yes`, `no`, `on` and `off` are strings, not booleans, so a keyword list survives DVC's
rewrite without quotes. A duplicate key, NaN or infinity is an error, never a silent pick.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.errors import KwsError

DEFAULT_PARAMS = Path("params.yaml")
# Labels travel in the protocol's `key=value` lines and name directories and C strings.
LABEL_RE = re.compile(r"[a-z0-9_]+")


class ParamsError(KwsError):
    """params.yaml is missing, unreadable or invalid."""


@dataclass(frozen=True)
class Num:
    """A number leaf: int or float within [lo, hi]."""

    kind: type
    lo: float | None = None
    hi: float | None = None


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]


@dataclass(frozen=True)
class StrList:
    min_len: int = 1


@dataclass(frozen=True)
class IntPair:
    lo: int = 1
    hi: int = 64


@dataclass(frozen=True)
class FloatPair:
    """[low, high] numbers within [lo, hi] (low <= high is checked where it matters)."""

    lo: float
    hi: float


@dataclass(frozen=True)
class IntMap:
    """A mapping from names in `keys` (any subset, at least one) to integers in [lo, hi]."""

    keys: tuple[str, ...]
    lo: int
    hi: int


INT, FLOAT = int, float
BOOL = bool
STR = str

ENGINE_NAMES = ("espeak", "flite", "festival", "piper", "kokoro")  # ml.synth.engines.ENGINES

# The schema: nested dicts mirror params.yaml; leaves are specs.
SCHEMA: dict[str, Any] = {
    "dataset": {
        "keywords": StrList(1),
        "labels": StrList(3),
        "sample_rate": Num(INT, 8000, 48000),
        "clip_duration_ms": Num(INT, 100, 10000),
        "validation_percentage": Num(INT, 1, 40),
        "testing_percentage": Num(INT, 1, 40),
        "silence_percentage": Num(INT, 0, 100),
        "unknown_percentage": Num(INT, 0, 100),
        "train_unknown_percentage": Num(INT, 0, 1000),
    },
    "synth": {
        "source": Choice(("synthetic", "real", "mix")),
        "real_dir": STR,
        "seed": Num(INT, 0, 2**31 - 1),
        "engines": IntMap(ENGINE_NAMES, 0, 100000),
        "repeats": Num(INT, 1, 20),
        "unknown_words_per_speaker": Num(INT, 0, 200),
        "background_seconds": Num(INT, 2, 3600),
        "background_rms_dbfs": Num(FLOAT, -80.0, 0.0),
        "max_word_ms": Num(INT, 100, 10000),
        "unknown_words": StrList(1),
        "espeak": {
            "accents": StrList(1),
            "variants": StrList(1),
            "rate_wpm": IntPair(80, 450),
            "pitch": IntPair(0, 99),
        },
        "flite": {"voices": StrList(1), "duration_stretch": FloatPair(0.3, 3.0)},
        "festival": {"voices": StrList(1), "duration_stretch": FloatPair(0.3, 3.0)},
        "piper": {
            "voices": StrList(1),
            "length_scale": FloatPair(0.3, 3.0),
            "noise_scale": FloatPair(0.0, 2.0),
            "noise_w": FloatPair(0.0, 2.0),
        },
        "kokoro": {
            "voices": StrList(1),
            "blend": Num(FLOAT, 0.01, 100.0),
            "speed": FloatPair(0.3, 3.0),
            "accents": StrList(1),
        },
        "speaker": {
            "warp": FloatPair(0.7, 1.4),
            "warp_jitter": Num(FLOAT, 0.0, 0.2),
            "rate_jitter": Num(FLOAT, 0.0, 0.5),
            "pitch_jitter": Num(INT, 0, 50),
        },
        "room": {
            "probability": Num(FLOAT, 0.0, 1.0),
            "rooms": Num(INT, 1, 10000),
            "width_m": FloatPair(1.5, 50.0),
            "depth_m": FloatPair(1.5, 50.0),
            "height_m": FloatPair(2.0, 20.0),
            "rt60_s": FloatPair(0.05, 3.0),
            "distance_m": FloatPair(0.05, 20.0),
            "max_order": Num(INT, 0, 100),
        },
        "mic": {
            "highpass_hz": FloatPair(10.0, 2000.0),
            "lowpass_hz": FloatPair(1000.0, 24000.0),
            "eq_db": Num(FLOAT, 0.0, 24.0),
        },
        "peak_dbfs_min": Num(FLOAT, -60.0, 0.0),
        "peak_dbfs_max": Num(FLOAT, -60.0, 0.0),
        "snr_db_min": Num(FLOAT, -10.0, 100.0),
        "snr_db_max": Num(FLOAT, -10.0, 100.0),
    },
    "validate": {
        "min_clips_per_class": Num(INT, 1, 10**7),
        "max_clip_ms": Num(INT, 1, 10000),
        "silent_rms_dbfs": Num(FLOAT, -120.0, 0.0),
        "clip_level": Num(INT, 1, 32767),
    },
    "frontend": {
        "window_size_ms": Num(INT, 1, 1000),
        "window_stride_ms": Num(INT, 1, 1000),
        "num_channels": Num(INT, 1, 256),
        "lower_band_limit": Num(FLOAT, 0.0, 24000.0),
        "upper_band_limit": Num(FLOAT, 0.0, 24000.0),
        "smoothing_bits": Num(INT, 0, 16),
        "even_smoothing": Num(FLOAT, 0.0, 1.0),
        "odd_smoothing": Num(FLOAT, 0.0, 1.0),
        "min_signal_remaining": Num(FLOAT, 0.0, 1.0),
        "enable_pcan": BOOL,
        "pcan_strength": Num(FLOAT, 0.0, 10.0),
        "pcan_offset": Num(FLOAT, 0.0, 1000.0),
        "gain_bits": Num(INT, 0, 32),
        "enable_log": BOOL,
        "scale_shift": Num(INT, 0, 16),
    },
    "features": {
        "seed": Num(INT, 0, 2**31 - 1),
        "augment": BOOL,
        "augment_copies": Num(INT, 0, 20),
        "background_volume": Num(FLOAT, 0.0, 1.0),
        "background_frequency": Num(FLOAT, 0.0, 1.0),
        "snr_db_min": Num(FLOAT, -20.0, 100.0),
        "snr_db_max": Num(FLOAT, -20.0, 100.0),
        "time_shift_ms": Num(INT, 0, 1000),
        "warmup_ms": Num(INT, 0, 10000),
        "warmup_probability": Num(FLOAT, 0.0, 1.0),
        "warmup_speech_probability": Num(FLOAT, 0.0, 1.0),
        "warmup_gap_ms": IntPair(0, 10000),
    },
    "model": {
        "architecture": Choice(("ds_cnn", "tiny_conv", "tc_resnet")),
        "ds_cnn": {
            "filters": Num(INT, 1, 1024),
            "blocks": Num(INT, 1, 16),
            "first_kernel": IntPair(),
            "first_stride": IntPair(1, 8),
            "dropout": Num(FLOAT, 0.0, 0.95),
        },
        "tiny_conv": {
            "filters": Num(INT, 1, 1024),
            "kernel": IntPair(),
            "stride": IntPair(1, 8),
            "dropout": Num(FLOAT, 0.0, 0.95),
        },
        "tc_resnet": {
            "width": Num(INT, 1, 512),
            "blocks": Num(INT, 1, 8),
            "kernel": Num(INT, 1, 31),
            "first_stride": Num(INT, 1, 8),
            "dropout": Num(FLOAT, 0.0, 0.95),
        },
    },
    "train": {
        "seed": Num(INT, 0, 2**31 - 1),
        "epochs": Num(INT, 1, 1000),
        "batch_size": Num(INT, 1, 4096),
        "learning_rate": Num(FLOAT, 1e-7, 1.0),
        "lr_decay_epochs": Num(INT, 1, 1000),
        "label_smoothing": Num(FLOAT, 0.0, 0.5),
        "engine_adversary": Num(FLOAT, 0.0, 10.0),
        "average_last": Num(FLOAT, 0.0, 1.0),
        "specaugment": {
            "time_masks": Num(INT, 0, 10),
            "time_mask_frames": Num(INT, 0, 100),
            "freq_masks": Num(INT, 0, 10),
            "freq_mask_channels": Num(INT, 0, 100),
        },
    },
    "transfer": {
        "epochs": Num(INT, 1, 1000),
        "seeds": Num(INT, 1, 20),
        "engines": StrList(1),
        "unheard": IntMap(ENGINE_NAMES, 0, 10000),
    },
    "quantize": {
        "seed": Num(INT, 0, 2**31 - 1),
        "representative_samples": Num(INT, 1, 100000),
        "qat": BOOL,
        "qat_epochs": Num(INT, 1, 100),
        "qat_learning_rate": Num(FLOAT, 1e-8, 1.0),
    },
    "recognizer": {
        "average_window_ms": Num(INT, 1, 10000),
        "detection_threshold": Num(INT, 0, 255),
        "suppression_ms": Num(INT, 0, 60000),
        "minimum_count": Num(INT, 1, 100),
    },
    "evaluate": {
        "stream_minutes": Num(FLOAT, 0.1, 600.0),
        "stream_hop_ms": Num(INT, 10, 1000),
        "seed": Num(INT, 0, 2**31 - 1),
        "stream_noise_volume": Num(FLOAT, 0.0, 1.0),
        "stream_gap_ms_min": Num(INT, 0, 10000),
        "stream_gap_ms_max": Num(INT, 0, 10000),
        "stream_tolerance_ms": Num(INT, 0, 5000),
        "arena_margin_percent": Num(INT, 0, 100),
        "arena_margin_bytes": Num(INT, 0, 1048576),
        # quality gates: evaluate fails (no export, no registration) when one is missed
        "min_accuracy_int8": Num(FLOAT, 0.0, 1.0),
        "max_int8_drop": Num(FLOAT, 0.0, 1.0),
        "max_false_accepts_per_hour": Num(FLOAT, 0.0, 100000.0),
    },
    "export": {
        "golden_vectors": Num(INT, 1, 100000),
        "golden_audio": Num(INT, 0, 1000),
    },
    "hil": {
        "agreement_threshold_real": Num(FLOAT, 0.0, 1.0),
        "soak_inferences": Num(INT, 1, 1000000),
        "command_timeout_s": Num(FLOAT, 0.1, 600.0),
        "bench_inferences": Num(INT, 1, 1000),
        "bench_warmup": Num(INT, 0, 100),
        "lock_timeout_s": Num(FLOAT, 0.0, 86400.0),
    },
    # drift check (ml/monitor.py): board telemetry against evaluate's reference distributions
    "monitor": {
        "reference": Choice(("test", "stream")),
        "window_days": Num(INT, 0, 3650),
        "min_inferences": Num(INT, 1, 10**9),
        "max_psi": Num(FLOAT, 0.0, 100.0),
        "min_chi2_p": Num(FLOAT, 0.0, 1.0),
    },
}


def _type_name(spec: Any) -> str:
    if isinstance(spec, Num):
        return "an integer" if spec.kind is int else "a number"
    return {bool: "true or false", str: "a string"}.get(spec, "a value")


def _check_leaf(key: str, value: Any, spec: Any, src: str) -> None:
    bad = f"{src}: {key} = {value!r}"
    if spec is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"{bad} must be true or false")
    elif spec is str:
        if not isinstance(value, str) or not value:
            raise ParamsError(f"{bad} must be a non-empty string")
    elif isinstance(spec, Num):
        ok_type = (int,) if spec.kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_type):
            raise ParamsError(f"{bad} must be {_type_name(spec)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ParamsError(f"{bad} must be a finite number")
        if (spec.lo is not None and value < spec.lo) or (spec.hi is not None and value > spec.hi):
            raise ParamsError(f"{bad} is out of range [{spec.lo}, {spec.hi}]")
    elif isinstance(spec, Choice):
        if value not in spec.options:
            raise ParamsError(f"{bad} must be one of {', '.join(spec.options)}")
    elif isinstance(spec, StrList):
        if (
            not isinstance(value, list)
            or len(value) < spec.min_len
            or not all(isinstance(v, str) and v for v in value)
        ):
            raise ParamsError(f"{bad} must be a list of at least {spec.min_len} strings")
        if len(set(value)) != len(value):
            raise ParamsError(f"{bad} has duplicate entries")
    elif isinstance(spec, IntPair):
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or not all(spec.lo <= v <= spec.hi for v in value)
        ):
            raise ParamsError(f"{bad} must be two integers in [{spec.lo}, {spec.hi}]")
    elif isinstance(spec, FloatPair):
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            or not all(spec.lo <= v <= spec.hi for v in value)
        ):
            raise ParamsError(f"{bad} must be two numbers in [{spec.lo}, {spec.hi}]")
    elif isinstance(spec, IntMap):
        if not isinstance(value, dict) or not value:
            raise ParamsError(f"{bad} must be a mapping of {', '.join(spec.keys)} to integers")
        for name, count in value.items():
            if name not in spec.keys:
                raise ParamsError(f"{src}: {key}.{name}: unknown (one of {', '.join(spec.keys)})")
            if isinstance(count, bool) or not isinstance(count, int):
                raise ParamsError(f"{src}: {key}.{name} = {count!r} must be an integer")
            if not spec.lo <= count <= spec.hi:
                raise ParamsError(
                    f"{src}: {key}.{name} = {count!r} is out of range [{spec.lo}, {spec.hi}]"
                )


def _check(tree: Any, schema: dict[str, Any], prefix: str, src: str) -> None:
    where = prefix.rstrip(".") or "top level"
    if not isinstance(tree, dict):
        raise ParamsError(f"{src}: {where} must be a mapping")
    for key in tree:
        if key not in schema:
            close = difflib.get_close_matches(str(key), list(schema), n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise ParamsError(f"{src}: unknown key '{prefix}{key}'{hint}")
    for key, spec in schema.items():
        if key not in tree:
            raise ParamsError(f"{src}: missing key '{prefix}{key}'")
        if isinstance(spec, dict):
            _check(tree[key], spec, f"{prefix}{key}.", src)
        else:
            _check_leaf(f"{prefix}{key}", tree[key], spec, src)


def _check_relations(p: dict[str, Any], src: str) -> None:
    ds, fe, ft = p["dataset"], p["frontend"], p["features"]
    for key in ("keywords", "labels"):
        for label in ds[key]:
            if not LABEL_RE.fullmatch(label):
                raise ParamsError(
                    f"{src}: dataset.{key} entry {label!r} must match [a-z0-9_]+ "
                    f"(lower-case letters, digits, underscore)"
                )
    expected = ["_silence_", "_unknown_", *ds["keywords"]]
    if sorted(ds["labels"]) != sorted(expected):
        raise ParamsError(
            f"{src}: dataset.labels must be _silence_, _unknown_ and the dataset.keywords"
        )
    if ds["validation_percentage"] + ds["testing_percentage"] >= 100:
        raise ParamsError(f"{src}: dataset.validation_percentage + testing_percentage >= 100")
    if fe["lower_band_limit"] >= fe["upper_band_limit"]:
        raise ParamsError(f"{src}: frontend.lower_band_limit must be below upper_band_limit")
    if fe["upper_band_limit"] > ds["sample_rate"] / 2:
        raise ParamsError(f"{src}: frontend.upper_band_limit is above the Nyquist frequency")
    if fe["window_stride_ms"] > fe["window_size_ms"]:
        raise ParamsError(f"{src}: frontend.window_stride_ms must not exceed window_size_ms")
    if p["evaluate"]["stream_gap_ms_min"] > p["evaluate"]["stream_gap_ms_max"]:
        raise ParamsError(f"{src}: evaluate.stream_gap_ms_min must not exceed stream_gap_ms_max")
    if ft["snr_db_min"] > ft["snr_db_max"]:
        raise ParamsError(f"{src}: features.snr_db_min must not exceed snr_db_max")
    if ft["warmup_ms"] % fe["window_stride_ms"]:
        raise ParamsError(
            f"{src}: features.warmup_ms ({ft['warmup_ms']}) must be a multiple of "
            f"frontend.window_stride_ms ({fe['window_stride_ms']}), so its frames line up"
        )
    if ft["warmup_gap_ms"][0] > ft["warmup_gap_ms"][1]:
        raise ParamsError(f"{src}: features.warmup_gap_ms must be [low, high] with low <= high")


def validate_params(tree: Any, src: str = str(DEFAULT_PARAMS)) -> dict[str, Any]:
    """Validate a parsed params tree; return it unchanged or raise ParamsError."""
    _check(tree, SCHEMA, "", src)
    _check_relations(tree, src)
    return tree


def parse_yaml(text: str, src: str, error: type[KwsError] = ParamsError) -> Any:
    """One YAML 1.2 document (ruamel.yaml, pure Python: the C loader is YAML 1.1).

    A duplicate key or a syntax error is `error` with one line naming `src` and the line.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    loader = YAML(typ="safe", pure=True)
    loader.allow_duplicate_keys = False
    try:
        return loader.load(text)
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        key = str(exc.problem).split('"')[1] if '"' in str(exc.problem) else "?"
        line = f"line {mark.line + 1}: " if mark else ""
        raise error(f"{src}: {line}duplicate key '{key}'") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" at line {mark.line + 1}" if mark else ""
        raise error(f"{src}: not valid YAML{line} ({exc.problem or exc.context})") from None
    except (YAMLError, ValueError) as exc:  # e.g. several documents in one file
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise error(f"{src}: not valid YAML ({msg})") from None


def load_params(path: Path | str = DEFAULT_PARAMS) -> dict[str, Any]:
    """Read and validate params.yaml."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ParamsError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    tree = parse_yaml(text, str(path))
    if not isinstance(tree, dict):
        kinds = {list: "a list", str: "a string", int: "a number", float: "a number"}
        kind = "empty" if tree is None else kinds.get(type(tree), type(tree).__name__)
        raise ParamsError(
            f"{path}: must be a mapping of sections (dataset:, train:, ...), is {kind}"
        )
    return validate_params(tree, str(path))


def params_hash(params: dict[str, Any]) -> str:
    """A stable short hash of the whole params tree (for registry tags)."""
    blob = json.dumps(params, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# Derived figures every stage agrees on.
def frames_per_clip(p: dict[str, Any]) -> int:
    """Feature slices per clip, as TFLM micro_speech computes them (49 for the defaults)."""
    fe, ds = p["frontend"], p["dataset"]
    samples = ds["sample_rate"] * ds["clip_duration_ms"] // 1000
    window = ds["sample_rate"] * fe["window_size_ms"] // 1000
    stride = ds["sample_rate"] * fe["window_stride_ms"] // 1000
    return 1 + (samples - window) // stride if samples >= window else 0
