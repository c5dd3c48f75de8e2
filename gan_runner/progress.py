"""Console text: the one-line progress indicator of the sampling and evaluation CLIs, durations and numbers.

stderr, so stdout stays clean for the result table; one rewritten line on a terminal, a few
plain lines otherwise (logs and CI should not fill up with carriage returns).
"""
from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable, TextIO

ProgressFn = Callable[[str, int, int], None]  # (label, done, total)


def no_progress(label: str, done: int, total: int) -> None:
    """A progress callback that prints nothing (library use, tests)."""


class StderrProgress:
    """Callable progress reporter: `progress("sampling", 500, 10000)`."""

    def __init__(self, stream: TextIO | None = None, min_interval: float = 0.5) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.min_interval = min_interval if self.tty else 5.0  # fewer lines when not a terminal
        self._last: dict[str, float] = {}

    def __call__(self, label: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = done >= total
        if not finished and now - self._last.get(label, -1e9) < self.min_interval:
            return
        self._last[label] = now
        pct = 100.0 * done / max(total, 1)
        line = f"{label}: {done}/{total} ({pct:.0f}%)"
        if self.tty:
            self.stream.write("\r" + line + "\033[K" + ("\n" if finished else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def format_duration(seconds: float) -> str:
    """M:SS, or H:MM:SS from an hour on (progress lines, ETAs)."""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


def format_value(v: Any) -> str:
    """A table cell: floats to 4 significant digits (n/a when not finite), None as empty, others as str."""
    if v is None:
        return ""
    if isinstance(v, float):
        if not math.isfinite(v):
            return "n/a"
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.1f}"
    return str(v)
