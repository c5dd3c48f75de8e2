"""The prepared-dataset format: a folder with images.u8 (raw uint8 N x C x H x W) and meta.json.

Why this format: a raw array is what np.memmap maps with no decoding and no index (StyleGAN's zip
of PNGs must be decoded at every start; FFCV/WebDataset shards solve streaming over networks,
which a single local file with random access does not need). meta.json says shape, labels and the
source key. A folder is written under a temp name and renamed when complete, so a folder with
the final name is always whole; a killed preparation leaves only a `.tmp-*` folder nobody trusts.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from gan_runner.data.base import DataSpec, InMemoryData
from gan_runner.errors import DataError

FORMAT = 1  # bump when the layout changes: older folders stop matching
ARRAY, META = "images.u8", "meta.json"


def default_cache_dir() -> Path:
    """$GAN_RUNNER_CACHE/datasets, else ~/.cache/gan_runner/datasets."""
    root = os.environ.get("GAN_RUNNER_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "gan_runner") / "datasets"


def read_meta(folder: Path) -> dict[str, Any] | None:
    """meta.json of a complete prepared folder, or None when absent, unreadable or not whole."""
    try:
        meta = json.loads((folder / META).read_text())
        size = (folder / ARRAY).stat().st_size
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or size != int(np.prod(meta.get("shape", [-1]))):
        return None
    return meta


def open_prepared(folder: Path, name: str, *, flippable: bool = True) -> InMemoryData:
    """A prepared folder memory-mapped as InMemoryData (pages load on use and are shared between processes)."""
    meta = read_meta(folder)
    if meta is None:
        raise DataError(f"dataset '{name}': {folder} is not a complete prepared dataset (expected {META} and {ARRAY}); "
                        f"make one with gan-prepare SRC --image-size N --out {folder}")
    shape = tuple(int(s) for s in meta["shape"])
    # mode 'c' (copy-on-write): a writable view for torch, yet nothing is ever written back to the file
    arr = np.memmap(folder / ARRAY, dtype=np.uint8, mode="c", shape=shape)
    y = None if meta.get("labels") is None else torch.tensor(meta["labels"], dtype=torch.int64)
    spec = DataSpec(name=name, shape=shape[1:], num_classes=meta.get("num_classes"), is_image=True, flippable=flippable)
    return InMemoryData(torch.from_numpy(arr), y, spec, mapped=True, source=folder / ARRAY)


@contextmanager
def preparation_lock(entry: Path, quiet: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on .ENTRY.lock beside the entry, so concurrent processes prepare it once.

    flock is released by the kernel when its holder dies (kill -9 included), so a killed
    preparation never blocks the next one. The holder unlinks the file while still holding it;
    a waiter that then wins a lock on the unlinked inode sees the path gone and locks afresh.
    """
    try:
        import fcntl
    except ImportError:  # no flock (Windows): concurrent preparations each write a temp folder, one rename wins
        yield
        return
    lock = entry.with_name(f".{entry.name}.lock")
    while True:
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise storage_error(entry.parent, e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not quiet:
                print(f"waiting for another process preparing {entry} (lock {lock})", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the file we locked was unlinked by the previous holder: lock the current one
    try:
        yield
    finally:
        try:
            os.unlink(lock)  # while still held, so no one can lock this inode and think it current
        except OSError:
            pass
        os.close(fd)


def remove_stale(entry: Path) -> None:
    """Delete a cache entry with the final name that read_meta rejects (an older format, a damaged file)."""
    if entry.exists() and read_meta(entry) is None:
        shutil.rmtree(entry, ignore_errors=True)


class PreparedWriter:
    """Writes a prepared folder chunk by chunk into a preallocated file; `commit` renames it into place."""

    def __init__(self, final: Path, shape: tuple[int, ...]) -> None:
        self.final = final
        self.tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self.shape = shape
        try:
            self.tmp.mkdir(parents=True)
            self.fd = os.open(self.tmp / ARRAY, os.O_RDWR | os.O_CREAT, 0o644)
            nbytes = int(np.prod(shape))
            if nbytes and hasattr(os, "posix_fallocate"):
                os.posix_fallocate(self.fd, 0, nbytes)  # a full disk fails now, not after an hour of decoding
        except OSError as e:
            self.abort()
            raise storage_error(final.parent, e) from None
        self.pos = 0

    def write(self, chunk: np.ndarray) -> None:
        """Append uint8 (k, C, H, W) samples at the current position."""
        try:
            os.pwrite(self.fd, np.ascontiguousarray(chunk).tobytes(), self.pos)
        except OSError as e:
            self.abort()
            raise storage_error(self.final.parent, e) from None
        self.pos += chunk.nbytes

    def commit(self, meta: dict[str, Any], n: int) -> Path:
        """Truncate to n samples (skipped files), write meta.json, fsync, rename onto the final name."""
        try:
            per = int(np.prod(self.shape[1:]))
            os.ftruncate(self.fd, n * per)
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = -1
            text = json.dumps({**meta, "format": FORMAT, "shape": [n, *self.shape[1:]]})
            (self.tmp / META).write_text(text)
            if self.final.exists():  # another process finished the same preparation first: keep theirs
                shutil.rmtree(self.tmp, ignore_errors=True)
                return self.final
            os.replace(self.tmp, self.final)
        except OSError as e:
            self.abort()
            raise storage_error(self.final.parent, e) from None
        return self.final

    def abort(self) -> None:
        """Remove the temp folder (interrupts, errors): nothing half-written stays behind."""
        if getattr(self, "fd", -1) >= 0:
            os.close(self.fd)
            self.fd = -1
        shutil.rmtree(self.tmp, ignore_errors=True)


def storage_error(where: Path, e: OSError) -> DataError:
    """An OSError writing a prepared dataset as one line that says how to fix it."""
    if e.errno == errno.ENOSPC:
        why = "no space left on the device; free space or set GAN_RUNNER_CACHE / --out elsewhere"
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "not writable; set GAN_RUNNER_CACHE (or --out) to a writable folder"
    else:
        why = f"{e.strerror or e}; set GAN_RUNNER_CACHE (or --out) elsewhere"
    return DataError(f"cannot write the prepared dataset under {where}: {why}")


def list_cache(cache_dir: Path) -> list[tuple[Path, dict[str, Any] | None, int]]:
    """(folder, meta or None for incomplete temp folders, bytes) for every entry of the cache dir."""
    if not cache_dir.is_dir():
        return []
    out = []
    for d in sorted(p for p in cache_dir.iterdir() if p.is_dir()):
        size = sum(f.stat().st_size for f in d.iterdir() if f.is_file())
        out.append((d, None if d.name.startswith(".") else read_meta(d), size))
    return out


def clear_cache(cache_dir: Path) -> tuple[int, int]:
    """Delete every prepared folder (and leftover temp folder and lock file) in the cache dir: (folders, bytes) freed."""
    entries = list_cache(cache_dir)
    for d, _, _ in entries:
        shutil.rmtree(d, ignore_errors=True)
    for lock in cache_dir.glob(".*.lock") if cache_dir.is_dir() else []:  # left by killed preparations; empty
        lock.unlink(missing_ok=True)
    return len(entries), sum(s for _, _, s in entries)
