"""Refuse sizes that cannot fit before allocating them: estimate bytes, compare with the device's memory.

An allocation far beyond RAM fails with a RuntimeError, but one just beyond it succeeds lazily and the
kernel's OOM killer ends the process later (`model.width=1000000` was killed with no message). So the
run's models are first built on the meta device (shapes only, no memory) and one training step's
tensors are estimated from their parameters and activations.
"""
from __future__ import annotations

import os
from typing import Callable

import torch
from torch import nn

from gan_runner.errors import ConfigError

# Adam's step holds weights, gradients and two moment buffers: 4 copies of every parameter.
PARAM_COPIES = 4
# Activations are kept for backward and their gradients flow back: about 2 copies per step.
ACTIVATION_COPIES = 2


def available_ram() -> int:
    """Bytes of RAM available now (MemAvailable), or the physical total where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def available_bytes(device: torch.device) -> int:
    """Memory this process can still allocate on `device`."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    return available_ram()


def gib(n: float) -> str:
    """Bytes as GiB, two significant digits."""
    return f"{n / 2**30:.2g} GiB"


def check_fits(need: int, device: torch.device, what: str, fix: str) -> None:
    """ConfigError naming `what` and how to `fix` it when `need` bytes exceed what `device` has free."""
    have = available_bytes(device)
    if need > have:
        raise ConfigError(f"{what} needs about {gib(need)} but {device} has {gib(have)} free; {fix}")


def batch_bytes(batch_size: int, image_size: int | None) -> int:
    """A lower bound of one float32 batch of square images (one channel); 0 for non-image data."""
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 1:
        return 0
    return batch_size * image_size * image_size * 4


def step_bytes(build: Callable[[], nn.Module], forward: Callable[[nn.Module], object] | None) -> int:
    """Bytes one training step needs: the model built on the meta device (no memory), its parameters
    times PARAM_COPIES, plus the activations of `forward(model)` (module outputs) times ACTIVATION_COPIES."""
    try:
        with torch.device("meta"):
            model = build()
    except (RuntimeError, OverflowError, TypeError) as e:
        if not isinstance(e, OverflowError) and "overflow" not in str(e).lower():
            raise
        # sizes beyond what a tensor shape can even hold (torch: "Overflow when unpacking long long")
        raise ConfigError(f"the model's sizes are too large to build ({str(e).strip().splitlines()[0][:100]}); lower them") from None
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    acts = 0
    if forward is not None:
        seen: list[int] = []

        def count(_m: nn.Module, _inp: object, out: object) -> None:
            for t in (out if isinstance(out, (tuple, list)) else (out,)):
                if isinstance(t, torch.Tensor):
                    seen.append(t.numel() * t.element_size())

        hooks = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
        try:
            with torch.device("meta"), torch.no_grad():
                forward(model)
            acts = sum(seen)
        except Exception:  # noqa: BLE001  (an op without a meta kernel: keep the parameters' estimate)
            acts = 0
        finally:
            for h in hooks:
                h.remove()
    return params * PARAM_COPIES + acts * ACTIVATION_COPIES
