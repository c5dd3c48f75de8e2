"""Atomic file writes: a reader (or a crash) sees the old complete file or the new one, never half of one.

Write a temp file in the same directory, fsync, `os.replace` onto the target. Used for checkpoints,
metrics.json/eval.json, sample archives and cached feature networks alike.
"""
from __future__ import annotations

import errno
import json
import math
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import numpy as np
import torch


def write_atomic(path: Path, write: Callable[[BinaryIO], None], *, sync_dir: bool = False) -> None:
    """Call `write(f)` on a temp file beside `path`, fsync it and rename it onto `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # one per process: two writers never share a temp file
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if e.filename is None:  # a failed write() names no file: say which one
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        raise
    except RuntimeError as e:  # torch.save reports a failed write (a full disk: "unexpected pos") as a RuntimeError
        first = (str(e).strip().splitlines() or ["RuntimeError"])[0][:120]
        full = shutil.disk_usage(path.parent).free < 2**20
        raise OSError(errno.ENOSPC if full else errno.EIO, "No space left on device" if full else f"write failed ({first})",
                      str(path)) from None
    finally:
        tmp.unlink(missing_ok=True)
    if sync_dir:  # the rename itself survives a power cut only once the directory is synced
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    """torch.save `obj` to `path` so that `path` is always either the old or the new complete file."""
    write_atomic(path, lambda f: torch.save(obj, f), sync_dir=True)


def json_safe(v: Any) -> Any:
    """NaN/inf floats (anywhere in nested dicts and lists) as null: JSON has no NaN."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    return v


def write_json(path: Path, obj: dict[str, Any]) -> None:
    """Write JSON atomically, keys sorted, two-space indent."""
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    write_atomic(path, lambda f: f.write(text.encode()))


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write compressed arrays to exactly `path` (np.savez would append .npz), atomically."""
    write_atomic(path, lambda f: np.savez_compressed(f, **arrays))


@contextmanager
def naming(path: Path) -> Iterator[None]:
    """Give an OSError raised while writing `path` that file's name (a failed write() names none)."""
    try:
        yield
    except OSError as e:
        if e.filename is None:
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        raise
