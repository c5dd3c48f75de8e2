"""Prepare a folder of images once: decode in worker processes, stream into a prepared folder, cache by key.

The key hashes (relative path, size, mtime) of every file, the labels file, image size, channels
and crop, so any added, removed or modified file gives a new key. Memory stays near one chunk of
images per worker: chunks are written to the preallocated file in order as they arrive.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
from collections import deque
from contextlib import closing
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TextIO

import numpy as np

from gan_runner.data.cache import FORMAT, PreparedWriter, default_cache_dir, preparation_lock, read_meta, remove_stale, storage_error
from gan_runner.data.decode import BadImage, Crop, load_image
from gan_runner.data.sources import FolderSource, scan_folder
from gan_runner.errors import DataError

CHUNK = 256  # images per task: big enough to amortize IPC, small enough to bound memory (64x64x3: 3 MB)


def source_key(src: FolderSource, image_size: int, channels: int, crop: Crop) -> str:
    """A hex digest of everything the prepared pixels and labels depend on."""
    h = hashlib.sha256()
    h.update(json.dumps({"v": 1, "size": image_size, "channels": channels, "crop": crop}).encode())
    if src.stats is not None:  # taken by the scan: no second stat per file
        h.update("".join(f"{n}\0{size}\0{mtime}\n" for n, (size, mtime) in zip(src.names, src.stats)).encode())
    else:
        for n, f in zip(src.names, src.files):
            st = f.stat()
            h.update(f"{n}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    try:
        st = (src.root / "dataset.json").stat()
        h.update(f"dataset.json\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    except OSError:
        pass  # no dataset.json
    return h.hexdigest()[:20]


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # one decode per process: the processes are the parallelism
    try:  # each worker imports the decoders once, at its start; the parent (often gan-run itself) never
        import torchvision.io  # noqa: F401  (it adds ~170 MB to a process's RSS, which the parent would keep)
    except ImportError:  # decode.py falls back to PIL
        pass


# A task for a worker: the files (paths) or their bytes (lmdb values), output size, channels, crop.
Task = tuple[list[str | bytes], int, int, Crop]


def _decode_chunk(task: Task) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Decode a chunk: uint8 (k, C, S, S) of the readable items, and (index in chunk, reason) of the others."""
    import torch

    items, size, channels, crop = task
    good, bad = [], []
    for i, item in enumerate(items):
        try:
            good.append(load_image(item if isinstance(item, bytes) else Path(item), size, channels, crop))
        except BadImage as e:
            bad.append((i, str(e)))
    arr = torch.stack(good).numpy() if good else np.empty((0, channels, size, size), np.uint8)
    return arr, bad


def decode_chunks(tasks: Iterable[Task], workers: int) -> Iterator[tuple[np.ndarray, list[tuple[int, str]]]]:
    """Decoded chunks in task order; with workers > 1 from a process pool, at most 2 chunks per worker in flight.

    The window bounds memory whatever N (Pool.imap would read every task ahead); tasks are pulled
    only after the pool has forked, so a task source (an lmdb cursor) is never shared with a worker.
    """
    if workers <= 1:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # per-image resizes are tiny: OpenMP barriers cost more than they give
        try:
            for task in tasks:
                yield _decode_chunk(task)
        finally:
            torch.set_num_threads(threads)
        return
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        pending: deque[Any] = deque()
        for task in tasks:
            pending.append(pool.apply_async(_decode_chunk, (task,)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()  # in order: the task order is the sample order
        while pending:
            yield pending.popleft().get()


class PrepProgress:
    """'preparing: 5120/20000 (26%), 830 img/s, ETA 0:18' on stderr, at most every `interval` seconds."""

    def __init__(self, total: int, stream: TextIO | None = None, interval: float = 2.0) -> None:
        self.total, self.stream, self.interval = total, stream or sys.stderr, interval
        self.t0 = self.last = time.monotonic()

    def __call__(self, done: int) -> None:
        from gan_runner.progress import format_duration

        now = time.monotonic()
        if done < self.total and now - self.last < self.interval:
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-9)
        eta = format_duration((self.total - done) / rate) if rate > 0 else "?"
        self.stream.write(f"preparing: {done}/{self.total} ({100 * done / max(self.total, 1):.0f}%), "
                          f"{rate:.0f} img/s, ETA {eta}\n")
        self.stream.flush()


def file_key(prefix: str, files: Sequence[Path], **settings: Any) -> str:
    """PREFIX-HEX: a digest of the files' names, sizes and mtimes and of the settings the pixels depend on."""
    stats = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    text = json.dumps({"format": FORMAT, "files": stats, "settings": settings}, sort_keys=True)
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


# What a standard dataset hands prepare_cached: (N, C, H, W), meta (labels, source, ...), uint8 chunks in order.
Made = tuple[tuple[int, ...], dict[str, Any], Iterable[np.ndarray]]


def _once(out: Path, key: str, write: Callable[[], Path], *, cached: bool, quiet: bool) -> Path:
    """`out` if it already holds KEY, else write() under the entry's lock, unless another process (a
    data-parallel rank, a sweep job) finished it while this one waited. Cache entries with the final name
    that fail read_meta are stale and removed first; an explicit --out is never deleted."""

    def hit() -> bool:
        meta = read_meta(out)
        return meta is not None and meta.get("key") == key

    if hit():
        return out
    with preparation_lock(out, quiet):
        if hit():
            return out
        if cached:
            remove_stale(out)
        return write()


def prepare_cached(name: str, key: str, make: Callable[[], Made], quiet: bool = False) -> Path:
    """The cache entry KEY, written once from make()'s chunks when absent (make runs only then)."""
    out = default_cache_dir() / key
    return _once(out, key, lambda: _write_cached(name, out, key, make, quiet), cached=True, quiet=quiet)


def _write_cached(name: str, out: Path, key: str, make: Callable[[], Made], quiet: bool) -> Path:
    shape, meta, chunks = make()
    if not quiet:
        print(f"preparing {shape[0]:,} {name} images -> {out}", file=sys.stderr)
    writer = PreparedWriter(out, shape)
    progress = PrepProgress(shape[0]) if not quiet else None
    try:
        done = 0
        for chunk in chunks:
            writer.write(chunk)
            done += len(chunk)
            if progress:
                progress(done)
        assert writer.pos == int(np.prod(shape)), (writer.pos, shape)  # every sample written, in order
        return writer.commit({**meta, "key": key}, shape[0])
    except BaseException:  # Ctrl-C and errors alike: never leave a half folder
        writer.abort()
        raise


def write_prepared(src: FolderSource, out: Path, key: str, *, image_size: int, channels: int, crop: Crop,
                   workers: int, name: str, quiet: bool = False) -> Path:
    """Decode every file of src into the prepared folder `out` (atomically); bad files fail in one line."""
    files = src.files
    n = len(files)
    writer = PreparedWriter(out, (n, channels, image_size, image_size))
    progress = PrepProgress(n) if not quiet else None
    bad: list[tuple[Path, str]] = []
    tasks = (([str(p) for p in files[i : i + CHUNK]], image_size, channels, crop) for i in range(0, n, CHUNK))
    try:
        done = 0
        with closing(decode_chunks(tasks, workers if n > CHUNK else 1)) as chunks:  # closing: stop the pool on errors
            for arr, chunk_bad in chunks:
                writer.write(arr)
                bad += [(files[done + i], why) for i, why in chunk_bad]
                done += len(arr) + len(chunk_bad)
                if progress:
                    progress(done)
        if bad:
            # an error, not a skip: a silently smaller dataset (or shifted labels) is worse than a stop
            path, why = bad[0]
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            raise DataError(f"dataset '{name}': cannot read image {path} ({why}){more}; "
                            f"{len(bad)} of {n} files unreadable, remove or replace them")
        meta = {"key": key, "source": str(src.root), "labels": src.labels, "num_classes": src.num_classes,
                "crop": crop, "files": n}
        return writer.commit(meta, n)
    except BaseException:  # KeyboardInterrupt and DataError alike: never leave a half folder
        writer.abort()
        raise


def default_workers() -> int:
    """All cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def prepare_folder(root: str | Path, *, image_size: int, channels: int = 3, crop: Crop = "center",
                   workers: int | None = None, out: Path | None = None, name: str = "image_folder",
                   quiet: bool = False) -> Path:
    """The prepared folder for root at these settings: the cached one if its key matches, else made now."""
    src = scan_folder(name, root)
    if src.loops_skipped and not quiet:
        print(f"warning: {src.root}: {src.loops_skipped} symlinked folder(s) already visited (a loop?) skipped",
              file=sys.stderr)
    return prepare_source(src, image_size=image_size, channels=channels, crop=crop, workers=workers, out=out,
                          name=name, quiet=quiet)


def prepare_source(src: FolderSource, *, image_size: int, channels: int = 3, crop: Crop = "center",
                   workers: int | None = None, out: Path | None = None, name: str = "image_folder",
                   quiet: bool = False) -> Path:
    """The prepared folder for a file list (a scanned folder, or a standard dataset's files): cached or made now."""
    key = source_key(src, image_size, channels, crop)
    target = default_cache_dir() / key if out is None else out
    return _once(target, key, lambda: _prepare_into(src, target, key, image_size=image_size, channels=channels, crop=crop,
                                                    workers=workers, name=name, quiet=quiet),
                 cached=out is None, quiet=quiet)


def _prepare_into(src: FolderSource, out: Path, key: str, *, image_size: int, channels: int, crop: Crop,
                  workers: int | None, name: str, quiet: bool) -> Path:
    meta = read_meta(out)
    if meta is not None or (out.exists() and any(out.iterdir())):
        raise DataError(f"{out} already holds something else (another dataset or other settings); "
                        f"remove it or choose another --out")
    if out.exists():
        try:
            out.rmdir()  # an empty folder the user made: the rename needs the name free
        except OSError as e:
            raise storage_error(out.parent, e) from None
    workers = default_workers() if workers is None else workers
    if not quiet:
        print(f"preparing {len(src.names):,} images -> {out} ({workers} worker{'s' * (workers != 1)})", file=sys.stderr)
    return write_prepared(src, out, key, image_size=image_size, channels=channels, crop=crop,
                          workers=workers, name=name, quiet=quiet)
