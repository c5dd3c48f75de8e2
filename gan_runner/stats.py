"""Training statistics: objectives report named values into one accumulator, read back once per log interval.

In the spirit of StyleGAN2-ADA's training_stats.report(name, value), without globals: the accumulator is
passed to whatever computes a value (losses, penalties, models' auxiliary terms, the phases). Values stay
device tensors until `pop`, so logging costs one host sync per `log_every`, not one per step.
"""
from __future__ import annotations

from typing import Protocol

import torch


class StatsSink(Protocol):
    """Where objectives report statistics: anything with `report(name, value)`."""

    def report(self, name: str, value: torch.Tensor) -> None:
        """Record a 0-d tensor under `name`."""


class DiscardStats:
    """A sink that keeps nothing (objectives evaluated only for their gradient, e.g. unrolled D steps)."""

    def report(self, name: str, value: torch.Tensor) -> None:
        """Nothing."""


class StatsAccumulator:
    """Running sums of scalar device tensors, averaged and moved to the host on `pop`."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def report(self, name: str, value: torch.Tensor) -> None:
        """Add one 0-d tensor under `name` (detached; no host sync)."""
        v = value.detach().float()
        self.sums[name] = self.sums[name] + v if name in self.sums else v.clone()
        self.counts[name] = self.counts.get(name, 0) + 1

    def pop(self) -> dict[str, float]:
        """Means since the last pop, as Python floats (one device->host copy), then reset."""
        if not self.sums:
            return {}
        keys = list(self.sums)
        values = torch.stack([self.sums[k] / self.counts[k] for k in keys]).tolist()
        self.sums.clear()
        self.counts.clear()
        return dict(zip(keys, values))
