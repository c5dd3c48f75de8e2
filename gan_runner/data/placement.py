"""Where a dataset lives while training (`dataset.placement`) and the batch stream built for it.

device  the whole uint8 array on the training device (today's path: a batch is one index gather there)
host    the array in (pinned) host RAM; batches gathered there and copied non-blocking, one ahead on a GPU
stream  the array stays a memory map of the prepared file; batches gathered from it, two ahead on a GPU
auto    device if the array fits DEVICE_BUDGET of free device memory (CUDA) or HOST_BUDGET of
        available RAM (CPU, where host RAM is the device); else host if it fits HOST_BUDGET; else stream
Every placement draws the same indices and flips from the stream's generator, so batches are identical.
"""
from __future__ import annotations

from typing import Any, Literal, Mapping

import numpy as np
import torch

from gan_runner.data.base import BatchStream, DataSpec, InMemoryData
from gan_runner.errors import ConfigError, DataError
from gan_runner.memory_budget import available_ram

Placement = Literal["auto", "device", "host", "stream"]
PLACEMENTS = ("auto", "device", "host", "stream")
READ_PIECE = 64 * 2**20  # bytes read at a time when a prepared file is loaded whole (device/host placement)
DEVICE_BUDGET = 0.5  # of free GPU memory: the rest is left for the model, activations and the allocator
HOST_BUDGET = 0.5  # of available RAM: other processes (and a sweep's other jobs) need the rest


def check_stream_options(dcfg: Mapping[str, Any], spec: DataSpec | None = None) -> None:
    """ConfigError for a dataset.placement or dataset.xflip that cannot work: their values before any data is built,
    and xflip against the dataset's spec (`flippable`: mirrored digits are no digits) once it is."""
    placement = dcfg.get("placement", "auto")
    if placement not in PLACEMENTS:
        raise ConfigError(f"dataset.placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
    xflip = dcfg.get("xflip", False)
    if not isinstance(xflip, bool):
        raise ConfigError(f"dataset.xflip must be true or false, got {xflip!r}")
    if xflip and spec is not None and not spec.flippable:
        raise ConfigError(f"dataset.xflip=true would mirror the samples of dataset '{spec.name}', which its dataset says "
                          f"mirroring does not keep (a mirrored 2 or 7 is no digit); leave dataset.xflip=false")


def resolve_placement(placement: str, nbytes: int, device: torch.device) -> str:
    """The concrete placement for `auto` (budgets in the module docstring); others pass through checked."""
    if placement not in PLACEMENTS:
        raise ConfigError(f"dataset.placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
    if placement != "auto":
        return placement
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if nbytes <= DEVICE_BUDGET * free:
            return "device"
        return "host" if nbytes <= HOST_BUDGET * available_ram() else "stream"
    return "device" if nbytes <= HOST_BUDGET * available_ram() else "stream"


def read_prepared(data: InMemoryData, device: torch.device, pin: bool = False) -> torch.Tensor:
    """The memory-mapped images as a resident tensor on `device`, read from their file in 64 MB pieces.

    Cloning the map instead would keep every page of the file resident in this process as well (RSS
    twice the data); on the CPU the file is read straight into the tensor's memory (one copy), else
    through one 64 MB staging piece. The layout stays C-order: batches are made channels_last one
    at a time (BatchStream), which is cheaper than permuting the whole array here.
    """
    assert data.source is not None
    out = torch.empty(tuple(data.x.shape), dtype=torch.uint8, device=device, pin_memory=pin)
    flat = out.view(-1)
    direct = memoryview(flat.numpy()) if out.device.type == "cpu" else None
    stage = None if direct is not None else np.empty(min(READ_PIECE, max(flat.numel(), 1)), np.uint8)
    pos, total = 0, flat.numel()
    with open(data.source, "rb", buffering=0) as f:
        while pos < total:
            k = min(READ_PIECE, total - pos)
            got = f.readinto(direct[pos : pos + k] if direct is not None else memoryview(stage)[:k])
            if not got:
                raise DataError(f"{data.source} is shorter than its meta.json says; prepare it again")
            if stage is not None:
                flat[pos : pos + got].copy_(torch.from_numpy(stage[:got]))
            pos += got
    return out


def build_stream(data: InMemoryData, dcfg: Mapping[str, Any], batch_size: int, seed: int, ranks: Any,
                 device: torch.device, channels_last: bool = False) -> BatchStream:
    """The training batch stream for `data` placed as dcfg['placement'] says, with dcfg['xflip'] flips."""
    check_stream_options(dcfg, data.spec)
    xflip = dcfg.get("xflip", False)
    if xflip and not data.spec.is_image:
        raise ConfigError(f"dataset.xflip=true needs images; dataset '{data.spec.name}' holds vectors")
    nbytes = data.x.numel() * data.x.element_size()
    placement = resolve_placement(str(dcfg.get("placement", "auto")), nbytes, torch.device(device))
    rank, world = getattr(ranks, "rank", 0), getattr(ranks, "world_size", 1)
    device = torch.device(device)
    cl = channels_last and data.spec.is_image  # NHWC: oneDNN/cuDNN's fastest layout, for batches of every placement
    if placement == "device":
        x = read_prepared(data, device) if data.source is not None else data.x
        placed = InMemoryData(x, data.y, data.spec).to(device)
        return BatchStream(placed, batch_size, seed, rank, world, xflip=xflip, channels_last=cl)
    if placement == "host":
        pin = device.type == "cuda"
        if data.source is not None:
            x = read_prepared(data, torch.device("cpu"), pin=pin)
        else:
            x = data.x.cpu().pin_memory() if pin else data.x.cpu()
        host = InMemoryData(x, None if data.y is None else data.y.cpu(), data.spec)
        return BatchStream(host, batch_size, seed, rank, world, xflip=xflip, device=device,
                           prefetch=ahead(device, 1), channels_last=cl)
    mapped = data if data.x.device.type == "cpu" else data.to("cpu")
    return BatchStream(mapped, batch_size, seed, rank, world, xflip=xflip, device=device,
                       prefetch=ahead(device, 2), channels_last=cl)


def ahead(device: torch.device, batches: int) -> int:
    """Batches to gather ahead in a thread: `batches` for a GPU, whose copies then overlap its compute;
    none when training on the CPU, where a gather (~0.6 ms) has nothing to overlap and a third thread
    on the cores that run the step's OpenMP threads cost ~15-20% of the steps/s (docs/BENCHMARKS.md)."""
    return batches if device.type != "cpu" else 0
