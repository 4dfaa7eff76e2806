"""A tiny progress printer for long host-side loops (calibration), no dependencies.

Writes to stderr so that piped stdout stays clean. On a terminal it redraws one
line in place (``\\r``); anywhere else (CI logs, pytest capture, a pipe) it
prints nothing at all, because a log full of progress lines helps nobody.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

__all__ = ["Progress", "progress"]

T = TypeVar("T")


class Progress:
    """``with Progress(total, "calibrating") as p: ... p.update()``.

    ``total`` may be ``None`` when unknown (then only the count is shown).
    ``enabled=None`` means: on exactly when ``stream`` is a TTY.
    Redraws at most every ``min_interval`` seconds, and once at the end.
    """

    def __init__(
        self,
        total: int | None = None,
        desc: str = "",
        stream: IO[str] | None = None,
        enabled: bool | None = None,
        min_interval: float = 0.1,
    ) -> None:
        self.total = total
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.count = 0
        self.min_interval = min_interval
        self._start = time.monotonic()
        self._last = 0.0

    def line(self) -> str:
        """The text of the current state, e.g. ``calibrating  12/40  30%  1.2s``."""
        elapsed = time.monotonic() - self._start
        head = f"{self.desc}  " if self.desc else ""
        if self.total:
            pct = 100.0 * self.count / self.total
            return f"{head}{self.count}/{self.total}  {pct:3.0f}%  {elapsed:.1f}s"
        return f"{head}{self.count}  {elapsed:.1f}s"

    def update(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if self.enabled and (now - self._last >= self.min_interval or self.count == self.total):
            self._last = now
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + self.line() + "\x1b[K\n")
            self.stream.flush()
            self.enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(
    items: Iterable[T], total: int | None = None, desc: str = "", **kwargs: object
) -> Iterator[T]:
    """Yields ``items`` while showing a :class:`Progress` (total from ``len`` when it has one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, desc, **kwargs) as p:  # type: ignore[arg-type]
        for item in items:
            yield item
            p.update()
