"""One pass over a set of images (generated or real), batch by batch: running moments and feature files.

An evaluation of 50,000 samples never holds them at once: each batch goes through the feature networks
and is dropped. What the metrics need is kept per feature space: float64 running mean and covariance
(`Moments`, all FID needs), and where a metric needs the features themselves (KID subsets, k-NN for
precision/recall and density/coverage, IS's logits) a `RowFile`: an np.memmap on disk, filled in order.
The file is unlinked as soon as it is mapped, so the disk space comes back when the mapping is dropped,
even if the process is killed (Linux semantics; nothing is left behind to clean up).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np
import torch

from gan_runner.errors import UserError
from gan_runner.progress import ProgressFn, no_progress

if TYPE_CHECKING:
    from gan_runner.metrics.space import FeatureSpace


class Moments:
    """Running float64 mean (D,) and covariance (D, D) of rows, merged batch by batch (Chan et al. 1979).

    Merging centred batch scatters (instead of summing x and x x^T) keeps the covariance accurate when the
    features' mean is large against their spread.
    """

    def __init__(self) -> None:
        self.n = 0
        self.mean: torch.Tensor | None = None
        self.scatter: torch.Tensor | None = None  # sum of (x - mean)(x - mean)^T

    def update(self, x: torch.Tensor) -> None:
        """Add rows x (B, D)."""
        x = x.flatten(1).double()
        b = len(x)
        if b == 0:
            return
        mb = x.mean(0)
        xc = x - mb
        sb = xc.T @ xc
        if self.mean is None or self.scatter is None:
            self.n, self.mean, self.scatter = b, mb, sb
            return
        n = self.n + b
        delta = mb - self.mean
        self.scatter = self.scatter + sb + torch.outer(delta, delta) * (self.n * b / n)
        self.mean = self.mean + delta * (b / n)
        self.n = n

    def mean_cov(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu (D,), unbiased covariance (D, D)), float64."""
        if self.mean is None or self.scatter is None or self.n < 2:
            raise ValueError(f"need at least 2 samples for a covariance, got {self.n}")
        return self.mean.clone(), self.scatter / (self.n - 1)


class RowFile:
    """(N, ...) rows written in order into an np.memmap under `work_dir`; the file is unlinked once mapped."""

    def __init__(self, n: int, work_dir: Path) -> None:
        self.n, self.work_dir, self.filled = n, Path(work_dir), 0
        self._map: np.memmap | None = None

    def append(self, rows: torch.Tensor) -> None:
        """Write rows (B, ...) after the ones already written (the file is made on the first call)."""
        arr = rows.detach().cpu().contiguous().numpy()
        if self._map is None:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix="gan-eval-", suffix=".rows", dir=self.work_dir)
            os.close(fd)
            try:
                self._map = np.memmap(name, dtype=arr.dtype, mode="w+", shape=(self.n, *arr.shape[1:]))
            finally:
                os.unlink(name)  # the mapping keeps the data; the disk space is freed when it is dropped
        end = self.filled + len(arr)
        if end > self.n:
            raise ValueError(f"RowFile holds {self.n} rows; got {end}")
        self._map[self.filled : end] = arr
        self.filled = end

    def tensor(self) -> torch.Tensor:
        """The rows written so far, as a CPU tensor backed by the file (no copy in memory)."""
        if self._map is None:
            raise ValueError("no rows were written")
        return torch.from_numpy(self._map[: self.filled])


@dataclass
class StreamedSamples:
    """Generated samples seen once, batch by batch: labels and codes kept, the samples only if a metric reads them."""

    n: int
    is_image: bool
    y: torch.Tensor | None
    c_cat: torch.Tensor | None
    c_cont: torch.Tensor | None
    kept: torch.Tensor | None  # (N, ...) backed by a disk file, or None

    @property
    def x(self) -> torch.Tensor:
        """The samples themselves (a disk-backed tensor); only kept when a metric's record reads 'samples'."""
        if self.kept is None:
            raise RuntimeError("a metric read the generated samples but its record does not list reads=('samples',)")
        return self.kept

    def __len__(self) -> int:
        return self.n


def cat_rows(parts: list[torch.Tensor | None]) -> torch.Tensor | None:
    """The batches' rows as one tensor (None where the batches carry none, e.g. no labels)."""
    return None if not parts or parts[0] is None else torch.cat(parts)  # type: ignore[arg-type]


@dataclass
class Side:
    """What one pass over a set kept, per feature space (keyed by `id(space)`)."""

    n: int
    moments: dict[int, Moments] = field(default_factory=dict)
    features: dict[int, RowFile] = field(default_factory=dict)
    logits: dict[int, RowFile] = field(default_factory=dict)


@dataclass(frozen=True)
class Want:
    """What to keep of one feature space in a pass: moments always; the features and/or logits on disk if asked."""

    space: FeatureSpace
    features: bool = False
    logits: bool = False


def stream(batches: Iterable[torch.Tensor], n: int, wants: list[Want], work_dir: Path, *,
           progress: ProgressFn = no_progress, label: str = "features") -> Side:
    """Run every wanted space over the batches (uint8 images or float points, (B, ...)) in one pass."""
    side = Side(n)
    for w in wants:
        side.moments[id(w.space)] = Moments()
        if w.features:
            side.features[id(w.space)] = RowFile(n, work_dir)
        if w.logits:
            side.logits[id(w.space)] = RowFile(n, work_dir)
    done = 0
    for xb in batches:
        for w in wants:
            f, lg = w.space.embed_batch(xb)
            side.moments[id(w.space)].update(f)
            if w.features:
                side.features[id(w.space)].append(f)
            if w.logits:
                if lg is None:
                    raise UserError(f"the {w.space.name} feature space has no classifier to give class posteriors")
                side.logits[id(w.space)].append(lg)
        done += len(xb)
        progress(label, done, n)
    return side


def slices(x: torch.Tensor, index: torch.Tensor | None = None, batch: int = 500) -> Iterator[torch.Tensor]:
    """Batches of x (rows `index` of it, in that order, when given) without copying all of them at once."""
    n = len(x) if index is None else len(index)
    for i in range(0, n, batch):
        yield x[i : i + batch] if index is None else x[index[i : i + batch]]


def check_disk(work_dir: Path, need: int, what: str) -> None:
    """One line when the feature files of an evaluation would not fit on the disk holding `work_dir`."""
    probe = Path(work_dir)
    while not probe.exists():  # the folder is made later; its nearest existing parent holds the disk
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if need > free * 0.9:
        raise UserError(f"{what} needs about {need / 2**30:.2f} GiB of feature files in {work_dir} but only "
                        f"{free / 2**30:.2f} GiB are free there; lower --num or point TMPDIR at a larger disk")
