"""micro_speech's RecognizeCommands: turn a stream of int8 score vectors into detections.

The firmware's `firmware/core/recognizer.*` implements the same rules from the same
contract (docs/contracts.md, "Recognizer"), so the false-accept rate `evaluate` measures is
the device's. All arithmetic is integer, as on the device:

1. results must come in increasing time order; an older one is an error;
2. keep the results with `time_ms >= now - average_window_ms`;
3. with fewer than `minimum_count` kept results: no decision;
4. average[i] = sum(score[i] + 128) // count (integer division);
5. top = the first label with the largest average;
6. a detection when average[top] >= detection_threshold, the top label is not `_silence_`
   or `_unknown_`, and either no detection happened yet, or top differs from the last
   detected label, or `now - last_detection_ms > suppression_ms`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from ml.errors import KwsError

NON_COMMANDS = ("_silence_", "_unknown_")


class RecognizerError(KwsError):
    """Results fed out of time order or with the wrong number of scores."""


@dataclass(frozen=True)
class Decision:
    label: str | None  # top label of the averaged window; None when no decision was made
    score: int  # its averaged score in 0..255 (0 when no decision)
    is_new_command: bool  # True exactly when this result is a detection


class RecognizeCommands:
    """Stateful recognizer; feed it one int8 score vector per inference."""

    def __init__(self, labels: list[str], recognizer: dict[str, Any]) -> None:
        self.labels = list(labels)
        self.window_ms = int(recognizer["average_window_ms"])
        self.threshold = int(recognizer["detection_threshold"])
        self.suppression_ms = int(recognizer["suppression_ms"])
        self.minimum_count = int(recognizer["minimum_count"])
        self._results: deque[tuple[int, np.ndarray]] = deque()
        self._last_label: str | None = None
        self._last_time: int | None = None

    def process(self, scores: np.ndarray, time_ms: int) -> Decision:
        scores = np.asarray(scores).reshape(-1)
        if scores.dtype != np.int8 or len(scores) != len(self.labels):
            raise RecognizerError(
                f"recognizer: expected {len(self.labels)} int8 scores, got {len(scores)} "
                f"{scores.dtype}"
            )
        time_ms = int(time_ms)
        if self._results and time_ms < self._results[-1][0]:
            raise RecognizerError(
                f"recognizer: result at {time_ms} ms is older than the previous one at "
                f"{self._results[-1][0]} ms"
            )
        self._results.append((time_ms, scores.astype(np.int32) + 128))
        while self._results and self._results[0][0] < time_ms - self.window_ms:
            self._results.popleft()
        count = len(self._results)
        if count < self.minimum_count:
            return Decision(None, 0, False)
        average = sum(s for _, s in self._results) // count
        top = int(np.argmax(average))
        label, score = self.labels[top], int(average[top])
        is_new = (
            score >= self.threshold
            and label not in NON_COMMANDS
            and (
                self._last_time is None
                or label != self._last_label
                or time_ms - self._last_time > self.suppression_ms
            )
        )
        if is_new:
            self._last_label, self._last_time = label, time_ms
        return Decision(label, score, is_new)
