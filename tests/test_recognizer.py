"""ml/recognizer.py against hand-computed sequences (the firmware's twin must agree)."""

from __future__ import annotations

import numpy as np
import pytest

from ml.recognizer import RecognizeCommands, RecognizerError

LABELS = ["_silence_", "_unknown_", "yes", "no"]
PARAMS = {
    "average_window_ms": 1000,
    "detection_threshold": 200,
    "suppression_ms": 1500,
    "minimum_count": 3,
}


ALIASES = {"silence": "_silence_", "unknown": "_unknown_"}


def scores(**shifted: int) -> np.ndarray:
    """int8 scores from 0..255 values per label (others 0 -> int8 -128)."""
    out = np.full(len(LABELS), -128, dtype=np.int8)
    for label, v in shifted.items():
        out[LABELS.index(ALIASES.get(label, label))] = v - 128
    return out


def feed(rec: RecognizeCommands, seq: list[tuple[int, np.ndarray]]) -> list[tuple]:
    return [(d.label, d.score, d.is_new_command) for d in (rec.process(s, t) for t, s in seq)]


def test_minimum_count_then_detection_then_suppression() -> None:
    rec = RecognizeCommands(LABELS, PARAMS)
    yes = scores(yes=255)
    out = feed(rec, [(0, yes), (100, yes), (200, yes), (300, yes)])
    assert out == [
        (None, 0, False),  # 1 result < minimum_count
        (None, 0, False),  # 2 results
        ("yes", 255, True),  # first detection
        ("yes", 255, False),  # same label 100 ms later: suppressed
    ]


def test_window_pruning_and_suppression_expiry() -> None:
    rec = RecognizeCommands(LABELS, PARAMS)
    yes = scores(yes=255)
    feed(rec, [(0, yes), (100, yes), (200, yes)])  # detection at 200
    out = feed(rec, [(1600, yes), (1700, yes), (1800, yes)])
    # At 1600 only results >= 600 are kept: 1 result, no decision; at 1800 three results
    # and 1600 ms since the detection at 200 > 1500: a new detection.
    assert out == [(None, 0, False), (None, 0, False), ("yes", 255, True)]


def test_result_exactly_window_old_is_kept() -> None:
    rec = RecognizeCommands(LABELS, PARAMS)
    yes = scores(yes=255)
    out = feed(rec, [(0, yes), (500, yes), (1000, yes)])
    assert out[-1] == ("yes", 255, True)  # 0 >= 1000 - 1000 is still in the window


def test_integer_average_and_threshold_boundary() -> None:
    rec = RecognizeCommands(LABELS, PARAMS)
    seq = [(0, scores(yes=228)), (100, scores(yes=178)), (200, scores(yes=188))]
    # (228 + 178 + 188) // 3 = 198 < 200
    assert feed(rec, seq)[-1] == ("yes", 198, False)
    # (228 + 178 + 188 + 255) // 4 = 212 >= 200
    assert feed(rec, [(300, scores(yes=255))]) == [("yes", 212, True)]


def test_threshold_is_inclusive() -> None:
    rec = RecognizeCommands(LABELS, PARAMS)
    s = scores(no=200)
    assert feed(rec, [(0, s), (10, s), (20, s)])[-1] == ("no", 200, True)
    rec = RecognizeCommands(LABELS, PARAMS)
    s = scores(no=199)
    assert feed(rec, [(0, s), (10, s), (20, s)])[-1] == ("no", 199, False)


def test_suppression_is_strict() -> None:
    rec = RecognizeCommands(LABELS, {**PARAMS, "average_window_ms": 100, "minimum_count": 1})
    yes = scores(yes=255)
    out = feed(rec, [(0, yes), (1500, yes), (1501, yes)])
    # 1500 - 0 is not more than 1500 ms; 1501 - 0 is.
    assert [o[2] for o in out] == [True, False, True]


def test_other_label_is_detected_within_suppression() -> None:
    rec = RecognizeCommands(LABELS, {**PARAMS, "average_window_ms": 100, "minimum_count": 1})
    out = feed(rec, [(0, scores(yes=255)), (200, scores(no=255)), (400, scores(yes=255))])
    assert out == [("yes", 255, True), ("no", 255, True), ("yes", 255, True)]


def test_silence_and_unknown_never_detect() -> None:
    rec = RecognizeCommands(LABELS, {**PARAMS, "minimum_count": 1})
    out = feed(rec, [(0, scores(silence=255)), (2000, scores(unknown=255))])
    assert out == [("_silence_", 255, False), ("_unknown_", 255, False)]


def test_tie_goes_to_first_label() -> None:
    rec = RecognizeCommands(LABELS, {**PARAMS, "minimum_count": 1})
    assert feed(rec, [(0, scores(yes=250, no=250))]) == [("yes", 250, True)]


def test_equal_time_is_accepted_older_is_an_error() -> None:
    rec = RecognizeCommands(LABELS, PARAMS)
    rec.process(scores(yes=1), 100)
    rec.process(scores(yes=1), 100)
    with pytest.raises(RecognizerError) as exc:
        rec.process(scores(yes=1), 99)
    assert str(exc.value) == (
        "recognizer: result at 99 ms is older than the previous one at 100 ms"
    )


def test_wrong_score_count_is_an_error() -> None:
    rec = RecognizeCommands(LABELS, PARAMS)
    with pytest.raises(RecognizerError) as exc:
        rec.process(np.zeros(3, dtype=np.int8), 0)
    assert str(exc.value) == "recognizer: expected 4 int8 scores, got 3 int8"
