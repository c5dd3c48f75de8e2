"""What every dataset builder returns: the whole dataset as tensors, plus a resumable batch stream.

Datasets here are small enough to live in memory (and on the GPU): batches are index gathers, not
per-sample PIL transforms through worker processes, which is most of the speed of the hot loop.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True)
class DataSpec:
    """Dataset-derived facts that models are built from (never duplicated in YAML)."""

    name: str
    shape: tuple[int, ...]  # one sample: (C, H, W) for images, (D,) for vectors
    num_classes: int | None  # None: unlabeled
    is_image: bool
    # What the data allows, said by the dataset that makes it (placement, metrics and models read these, no names):
    flippable: bool = True  # a mirrored sample is still a sample of the data (dataset.xflip); digits are not
    stacked_digits: int = 0  # channels that are each an MNIST digit (Stacked MNIST: 3; its metrics and classifier)

    @property
    def channels(self) -> int:
        """Image channels (1 for vectors, so MLPs can treat both alike)."""
        return self.shape[0] if self.is_image else 1

    @property
    def image_size(self) -> int:
        """Height (= width) of an image sample."""
        if not self.is_image:
            raise ValueError(f"dataset '{self.name}' has no image size: samples have shape {self.shape}")
        return self.shape[-1]


@dataclass
class InMemoryData:
    """A whole dataset: images as uint8 (N, C, H, W) in [0, 255], or vectors as float32 (N, D)."""

    x: torch.Tensor
    y: torch.Tensor | None  # int64 (N,) labels, or None
    spec: DataSpec
    mapped: bool = False  # x is a memory map of a prepared file (pages load on use), not resident memory
    source: Path | None = None  # that file (raw C-order uint8), so a placement can read it without the map

    def __post_init__(self) -> None:
        assert tuple(self.x.shape[1:]) == tuple(self.spec.shape), (self.x.shape, self.spec.shape)
        if self.y is not None:
            assert self.y.shape == (self.x.shape[0],), (self.y.shape, self.x.shape)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def to(self, device: torch.device | str) -> "InMemoryData":
        """The same data on another device."""
        y = None if self.y is None else self.y.to(device)
        x = self.x.to(device)
        same = self.mapped and x.data_ptr() == self.x.data_ptr()
        return InMemoryData(x, y, self.spec, mapped=same, source=self.source if same else None)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Model-space float tensor: images scaled to [-1, 1], vectors unchanged."""
        if self.spec.is_image:
            return x.float().mul_(2.0 / 255.0).sub_(1.0)
        return x.float()


def to_uint8_images(x: torch.Tensor) -> torch.Tensor:
    """Model-space images in [-1, 1] back to uint8 [0, 255] (for grids and saved samples)."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


class BatchStream:
    """Endless shuffled batches (drop_last), from its own generator so data order is resumable.

    Each epoch draws a fresh permutation; `state_dict` captures the permutation, the position
    and the generator, so a resumed run sees exactly the batches an uninterrupted one would.

    Data-parallel runs (torchrun): every rank draws the same permutation (same seed) and takes
    its own `batch_size` slice of each global batch of `batch_size * world_size`, so ranks see
    disjoint samples within an epoch (a shard, as DistributedSampler makes) and the state is
    the same on every rank: rank 0's resumes them all, for any number of ranks.

    Where the data lives is a placement choice (gan_runner.data.placement): with `device` set
    to another device than the data's, batches are gathered where the data is (pinned host
    memory or a memory map) and copied non-blocking; `prefetch` batches are gathered ahead in
    a thread. Indices and flips are always drawn in `next` order from the one generator, and
    `state_dict` is the state before the batches gathered ahead, so every placement yields the
    same batches and resumes exactly. `xflip` mirrors each sample with probability 1/2.
    """

    def __init__(self, data: InMemoryData, batch_size: int, seed: int, rank: int = 0, world_size: int = 1, *,
                 xflip: bool = False, device: torch.device | str | None = None, prefetch: int = 0,
                 channels_last: bool = False) -> None:
        if batch_size * world_size > len(data):
            from gan_runner.errors import ConfigError

            per = f" x {world_size} processes" if world_size > 1 else ""
            raise ConfigError(
                f"dataset.batch_size={batch_size}{per} is larger than dataset '{data.spec.name}' "
                f"({len(data)} samples); lower dataset.batch_size"
            )
        self.data = data
        self.batch_size = batch_size  # per rank
        self.rank, self.world_size = rank, world_size
        self.xflip = xflip
        self.device = torch.device(device) if device is not None else data.x.device
        self.prefetch = prefetch
        self.channels_last = channels_last  # batches in NHWC, the layout of a channels_last model (a no-op if stored so)
        self._pin = self.device.type == "cuda" and data.x.device.type == "cpu"
        self._pending: deque[tuple[dict[str, Any], torch.Tensor | None, Future[Any] | tuple[Any, Any]]] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self.gen = torch.Generator().manual_seed(seed)  # CPU generator: same order on any device
        self.perm = torch.randperm(len(data), generator=self.gen)
        self.pos = 0
        self.epoch = 0

    def _plan(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Advance the order by one batch: this rank's CPU indices (B,) and flip mask (B,) or None."""
        global_batch = self.batch_size * self.world_size
        if self.pos + global_batch > len(self.perm):
            self.perm = torch.randperm(len(self.data), generator=self.gen)
            self.pos = 0
            self.epoch += 1
        start = self.pos + self.rank * self.batch_size  # this rank's slice of the global batch
        idx = self.perm[start : start + self.batch_size]
        self.pos += global_batch
        flip = None
        if self.xflip:  # drawn for the global batch so every rank's generator stays in step
            flip = torch.rand(global_batch, generator=self.gen)[self.rank * self.batch_size :][: self.batch_size] < 0.5
        return idx, flip

    def _gather(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 samples and labels at idx, where the data lives (pinned when bound for a GPU)."""
        x_src = self.data.x
        idx = idx.to(x_src.device)
        if self._pin:
            x = torch.empty((len(idx), *x_src.shape[1:]), dtype=x_src.dtype, pin_memory=True)
            torch.index_select(x_src, 0, idx, out=x)
        else:
            x = x_src.index_select(0, idx)
        y = None if self.data.y is None else self.data.y.index_select(0, idx.to(self.data.y.device))
        return x, y

    def _snapshot(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "perm": self.perm, "pos": self.pos, "epoch": self.epoch}

    def _enqueue(self) -> None:
        state = self._snapshot()
        idx, flip = self._plan()
        if self.prefetch > 0:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="batch-prefetch")
            self._pending.append((state, flip, self._pool.submit(self._gather, idx)))
        else:
            self._pending.append((state, flip, self._gather(idx)))

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next batch: normalized x (B, ...) and labels (B,) or None, on the stream's device."""
        if not self._pending:
            self._enqueue()
        _, flip, job = self._pending.popleft()
        while len(self._pending) < self.prefetch:  # start gathering the following batches now
            self._enqueue()
        x, y = job.result() if isinstance(job, Future) else job
        x = x.to(self.device, non_blocking=True)
        y = None if y is None else y.to(self.device, non_blocking=True)
        if flip is not None:
            x = torch.where(flip.to(self.device).view(-1, *[1] * (x.dim() - 1)), x.flip(-1), x)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.data.normalize(x), y

    def state_dict(self) -> dict[str, Any]:
        """Plain-tensor state for checkpoints (the state before any batch gathered ahead)."""
        s = self._pending[0][0] if self._pending else self._snapshot()
        return {"gen": s["gen"].clone(), "perm": s["perm"].clone(), "pos": s["pos"], "epoch": s["epoch"]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from `state_dict`."""
        for _, _, job in self._pending:  # batches gathered ahead belong to the old order
            if isinstance(job, Future):
                job.result()
        self._pending.clear()
        self.gen.set_state(state["gen"])
        self.perm = state["perm"].clone()
        self.pos = int(state["pos"])
        self.epoch = int(state["epoch"])
