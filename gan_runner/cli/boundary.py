"""The one boundary every entry point runs behind: exit codes, and which exceptions are the user's to fix.

Anything caused by input or environment (a bad value or file, a full disk, a name too long, a size that
cannot fit in memory, an undecodable file) becomes one `error:` line and exit code 2. Anything else is a
bug in gan-runner: its traceback stays, with a line asking to report it, and exit code 1.
"""
from __future__ import annotations

import argparse
import errno
import json
import sys
import traceback
from typing import Callable, NoReturn

from gan_runner.errors import UserError

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USER_ERROR = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors as one `error:` line and exit 2 (argparse prints the whole usage first)."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        """Print one line and exit 2."""
        self.exit(EXIT_USER_ERROR, f"error: {self.prog}: {message} ({self.prog} --help lists the options)\n")


def signal_exit_code(signum: int) -> int:
    """The shell's code for a process stopped by signal `signum` (after a clean checkpoint)."""
    return 128 + int(signum)


_ERRNO_HINTS = {
    errno.ENOSPC: "no space left on the device; free some or write elsewhere",
    errno.EDQUOT: "disk quota exceeded; free some space or write elsewhere",
    errno.ENAMETOOLONG: "file name too long; use a shorter path",
    errno.EACCES: "permission denied; write somewhere writable",
    errno.EPERM: "operation not permitted; write somewhere writable",
    errno.EROFS: "read-only file system; write somewhere writable",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a folder; give a file name",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
}

# Phrases of torch's RuntimeErrors that mean the machine ran out of memory for a requested size,
# or that a file could not be written or read (torch.save on a full disk: "unexpected pos").
_MEMORY_PHRASES = ("can't allocate memory", "not enough memory", "out of memory", "bad_alloc")
_STORAGE_PHRASES = ("PytorchStreamWriter failed", "PytorchStreamReader failed", "unexpected pos", "file write failed")


def os_error_line(e: OSError) -> str:
    """An OSError as one line: the path, then what is wrong and how to fix it."""
    where = e.filename if e.filename is not None else ""
    if isinstance(where, str) and len(where) > 120:
        where = where[:60] + "..." + where[-40:]
    hint = _ERRNO_HINTS.get(e.errno or -1, e.strerror or str(e) or type(e).__name__)
    return f"{where}: {hint}" if where else hint


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:240]


def user_error_line(e: BaseException) -> str | None:
    """The one line for an exception the user can fix (input, files, disk, memory), or None for a bug."""
    if isinstance(e, UserError):
        return str(e).replace("\n", " ")
    if isinstance(e, OSError):
        return os_error_line(e)
    if isinstance(e, MemoryError):
        return "not enough memory for the requested sizes; lower them (model width, image size, batch size, --num)"
    if isinstance(e, RuntimeError):
        text = str(e)
        if any(p in text for p in _MEMORY_PHRASES):
            return f"not enough memory for the requested sizes; lower them ({_first_line(e)[-120:]})"
        if any(p in text for p in _STORAGE_PHRASES):
            return f"could not write or read a file (is the disk full?): {_first_line(e)[:160]}"
        return None
    if isinstance(e, (UnicodeDecodeError, json.JSONDecodeError)):
        return f"a file could not be decoded: {_first_line(e)}"
    yaml = sys.modules.get("yaml")
    if yaml is not None and isinstance(e, yaml.YAMLError):
        return f"a YAML file could not be read: {' '.join(str(e).split())[:200]}"
    return None


def report(e: BaseException, verbose: bool = False) -> int:
    """Print `e` as the user should see it and return the exit code (re-raises with verbose)."""
    if isinstance(e, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    line = user_error_line(e)
    if verbose:
        raise e
    if line is not None:
        print(f"error: {line}", file=sys.stderr)
        return EXIT_USER_ERROR
    traceback.print_exception(e)
    print(f"error: this is a bug in gan-runner (unexpected {type(e).__name__}); please report it with the command "
          "you ran and the traceback above", file=sys.stderr)
    return EXIT_BUG


def guarded(body: Callable[[], None], verbose: bool) -> int:
    """Run body behind the boundary: 0 when it returns, else the exit code `report` chose."""
    try:
        body()
    except (Exception, KeyboardInterrupt) as e:
        return report(e, verbose)
    return EXIT_OK
