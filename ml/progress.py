"""Progress for long work: a tqdm bar on a terminal, plain lines in logs.

A tqdm bar written to a file or a CI log is one long line of carriage returns; when stderr is
not a terminal this logs `desc: 40% (2600/6500 clip)` about every 20% instead.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")
log = logging.getLogger("progress")


class LogProgress:
    """The subset of tqdm's interface the stages use, as a few log lines."""

    def __init__(self, total: int | None, desc: str, unit: str, step_percent: int = 20) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.n = 0
        self.step = step_percent
        self.next_percent = step_percent

    def update(self, n: int = 1) -> None:
        self.n += n
        if not self.total:
            return
        percent = 100 * self.n // self.total
        if percent >= self.next_percent:
            log.info("%s: %d%% (%d/%d %s)", self.desc, percent, self.n, self.total, self.unit)
            self.next_percent = (percent // self.step + 1) * self.step

    def set_postfix_str(self, _text: str, refresh: bool = True) -> None:
        """Postfixes are for the live bar; logs get the final summary from the caller."""

    def close(self) -> None:
        """Nothing to flush: every line was logged when it was due."""

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    enabled: bool = True,
    **tqdm_kwargs: Any,
) -> Any:
    """tqdm(...) on a terminal; LogProgress (or a plain iterator) in logs; nothing if disabled."""
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if enabled and sys.stderr.isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit, **tqdm_kwargs)
    bar = LogProgress(total if enabled else None, desc, unit)
    if iterable is None:
        return bar
    return _iterate(iterable, bar)


def _iterate(iterable: Iterable[T], bar: LogProgress) -> Iterator[T]:
    for item in iterable:
        yield item
        bar.update()
