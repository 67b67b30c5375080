"""The HIL suites' shared state: what a test needs besides the board (the `Hil` context the
`hil` fixture of hil/conftest.py builds) and the helpers the suites share. Tests import from
here, never from conftest (pytest loads conftest itself)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hil.metrics import record
from hil.version import firmware_version


@dataclass
class Hil:
    """Everything a HIL test needs besides the board itself."""

    board: str
    port: str
    facts: dict[str, Any]
    params: dict[str, Any]
    settings: dict[str, Any]
    manifest: dict[str, Any]
    features: dict[str, np.ndarray]
    audio: dict[str, np.ndarray]
    results: Path
    fw_version: str = field(default_factory=firmware_version)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)

    def metric(
        self, name: str, value: float, unit: str, estimated: bool = False, emulated: bool = False
    ) -> None:
        """Record a figure; `estimated`: not measured on the board (a virtual board's time);
        `emulated`: counted by an emulator (the emulated Cortex-M4's instructions)."""
        self.metrics = [m for m in self.metrics if m["name"] != name]
        self.metrics.append(record(name, float(value), unit, estimated, emulated))

    @property
    def frames(self) -> int:
        return int(self.settings["input"]["shape"][1])

    @property
    def channels(self) -> int:
        return int(self.settings["input"]["shape"][2])

    @property
    def threshold_int8(self) -> int:
        return int(self.settings["recognizer"]["detection_threshold"]) - 128


def expected_label(hil: Hil, i: int) -> int:
    """The reference's top index for golden vector i (first index on ties, as argmax)."""
    return int(np.argmax(hil.features["expected"][i]))
