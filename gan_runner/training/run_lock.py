"""One writer per run dir: an exclusive flock on RUN_DIR/.gan-run.lock, held for the whole run.

flock is released by the kernel when its holder dies (kill -9 included), so a crashed run never
blocks the next one, as with the dataset preparation lock (data/cache.py). A second gan-run (or a
`trainer.resume=auto`) in a busy run dir is refused in one line naming the holder's pid, instead of
racing it on checkpoints and TensorBoard steps.
"""
from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from gan_runner.errors import UserError

LOCK_NAME = ".gan-run.lock"

try:
    import fcntl
except ImportError:  # no flock (Windows): no lock, as before
    fcntl = None  # type: ignore[assignment]


def _busy(run_dir: Path, lock: Path) -> UserError:
    try:
        pid = lock.read_text().strip() or "unknown"
    except OSError:
        pid = "unknown"
    return UserError(f"run dir {run_dir} is in use by another gan-run (pid {pid}); wait for it to end, stop it, "
                     "or choose another hydra.run.dir")


def holder_pid_error(run_dir: Path) -> UserError | None:
    """The error a new writer of `run_dir` would get now (another process holds its lock), else None.

    A look before Hydra writes .hydra/ into the dir; RunDirLock still decides who writes.
    """
    lock = Path(run_dir) / LOCK_NAME
    if fcntl is None or not lock.is_file():
        return None
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _busy(run_dir, lock)
    finally:
        os.close(fd)  # closing releases a shared lock at once
    return None


class RunDirLock:
    """Context manager: hold RUN_DIR's lock (taken once the dir exists); removed on exit."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.lock = self.run_dir / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock if the run dir exists and it is not held yet; UserError when another process holds it."""
        if fcntl is None or self.fd is not None or not self.run_dir.is_dir():
            return
        while True:
            fd = os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise _busy(self.run_dir, self.lock) from None
            try:
                same = os.stat(self.lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # we locked a file its previous holder had just unlinked: lock the current one
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        """Remove the lock file (while still holding it, so no one locks a stale inode) and let go."""
        if self.fd is None:
            return
        try:
            os.unlink(self.lock)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> "RunDirLock":
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
