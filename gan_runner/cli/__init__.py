"""The command-line entry points: gan-run (train), gan-sample, gan-eval, gan-report, gan-prepare."""
from __future__ import annotations

import sys
from types import TracebackType

_default_hook = sys.excepthook


def _quiet_interrupt(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """Ctrl-C while an entry point is still importing (before its boundary runs): one line, no traceback.

    Python then ends the process by SIGINT, which a shell reports as 130, like the boundary's exit code.
    """
    if issubclass(kind, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return
    _default_hook(kind, exc, tb)


sys.excepthook = _quiet_interrupt
