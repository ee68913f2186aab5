"""Progress of a long run on a terminal: "stack n of N" and the time left, on one line overwritten in place.

Shown only when the stream is a terminal and there is more than one stack: CI logs and pipes get
nothing (a line rewritten with carriage returns is noise in a log). The terminal test and the clock
are injected, so tests need neither a terminal nor time to pass.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Reports `stack n of N, about T left` on `stream` (default: stderr, looked up when started)."""

    def __init__(self, stream: TextIO | None = None, *, is_terminal: Callable[[], bool] | None = None,
                 clock: Callable[[], float] = time.monotonic, what: str = "stack"):
        self._stream = stream
        self._is_terminal = is_terminal
        self.clock = clock
        self.what = what
        self.total = self.done = self.already = 0
        self.active = False
        self._width = 0
        self._started = 0.0

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    def _terminal(self) -> bool:
        if self._is_terminal is not None:
            return bool(self._is_terminal())
        try:
            return bool(self.stream.isatty())
        except (AttributeError, ValueError, OSError):
            return False

    def start(self, total: int, already: int = 0) -> None:
        """`total` stacks, of which `already` are done (answered from the cache: not in the estimate)."""
        self.total, self.done, self.already = total, already, already
        self.active = total > 1 and self._terminal()
        self._started = self.clock()
        if self.active:
            self._show()

    def advance(self, count: int = 1) -> None:
        self.done = min(self.total, self.done + count)
        if self.active:
            self._show()

    def finish(self) -> None:
        """Clear the line, so that what is printed next starts at its beginning."""
        if self.active and self._width:
            self._write("\r" + " " * self._width + "\r")
        self.active = False

    def _show(self) -> None:
        worked = self.done - self.already
        left = self.total - self.done
        if left == 0:
            estimate = "done"
        elif worked <= 0:
            estimate = "estimating the time left"
        else:
            estimate = f"about {_duration((self.clock() - self._started) / worked * left)} left"
        text = f"{self.what} {self.done} of {self.total}, {estimate}"
        pad = max(0, self._width - len(text))
        self._width = max(self._width, len(text))
        self._write("\r" + text + " " * pad)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.active = False
