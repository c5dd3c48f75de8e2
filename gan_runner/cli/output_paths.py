"""Check an output path before any work: a file that can be written there, and room on its disk.

Hours of sampling or evaluation should not end in a traceback because `--out` names a folder, sits
under a file, is too long, is not writable, or would not fit on the disk.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from gan_runner.atomic import naming  # noqa: F401  (the CLIs name a failed write's file with it)
from gan_runner.errors import UserError

NAME_MAX = 255  # bytes in one path component on Linux/macOS file systems
PATH_MAX = 4096


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not probe.exists() and not probe.is_symlink():
        if probe.parent == probe:
            break
        probe = probe.parent
    return probe


def writable_path(text: str | os.PathLike[str], flag: str, *, folder: bool = False) -> Path:
    """`text` as a path a file (or, with folder=True, a folder of files) can be written at; one UserError line if not."""
    raw = os.fspath(text)
    if not raw.strip():
        raise UserError(f"{flag} is empty; give a path")
    path = Path(raw).expanduser()
    shown = raw if len(raw) <= 80 else raw[:40] + "..." + raw[-30:]
    if len(os.fsencode(path)) > PATH_MAX or any(len(os.fsencode(part)) > NAME_MAX for part in path.parts):
        raise UserError(f"{flag} {shown}: file name too long; use a shorter path")
    if path.is_dir() and not folder:
        raise UserError(f"{flag} {shown} is an existing folder; give a file name")
    if path.exists() and folder and not path.is_dir():
        raise UserError(f"{flag} {shown} is an existing file; give a folder")
    base = _nearest_existing(path.parent if not folder else path)
    if not base.is_dir():
        raise UserError(f"{flag} {shown}: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {shown}: {base} is not writable; write somewhere else")
    if path.exists() and not folder and not os.access(path, os.W_OK) and not os.access(path.parent, os.W_OK):
        raise UserError(f"{flag} {shown} is not writable; write somewhere else")
    return path


def check_room(path: Path, need: int, flag: str, fix: str) -> None:
    """One UserError line when `need` bytes would not fit on the disk that will hold `path`."""
    free = shutil.disk_usage(_nearest_existing(path.parent)).free
    if need > free:
        raise UserError(f"{flag} {path} needs about {need / 2**30:.3g} GiB but only {free / 2**30:.3g} GiB are free there; {fix}")
