"""2D Gaussian-mixture benchmarks of the mode-collapse literature (VEEGAN, PacGAN): ring8, grid25.

Each sample is float32 (2,). The mode centers and std are exported (`toy_modes`) so mode metrics
(modes covered, share of high-quality samples within 3 std of a center) use the same geometry.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Mapping

import torch

from gan_runner.data.base import DataSpec, InMemoryData
from gan_runner.errors import ConfigError
from gan_runner.registry import DATASETS, register_dataset


def _ring_centers(radius: float) -> torch.Tensor:
    """(8, 2): eight points evenly spaced on a circle."""
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def _grid_centers() -> torch.Tensor:
    """(25, 2): the 5x5 grid {-4, -2, 0, 2, 4}^2."""
    ticks = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    return torch.cartesian_prod(ticks, ticks)


def _check(name: str, num_samples: int, std: float) -> None:
    if num_samples < 1:
        raise ConfigError(
            f"dataset '{name}': num_samples must be >= 1, got {num_samples}; set dataset.num_samples=100000"
        )
    if not std > 0:
        raise ConfigError(f"dataset '{name}': std must be > 0, got {std}; set dataset.std to a small positive number")


def _mixture(name: str, centers: torch.Tensor, std: float, num_samples: int, seed: int) -> InMemoryData:
    """num_samples points from an equal-weight isotropic Gaussian mixture, drawn from its own generator."""
    gen = torch.Generator().manual_seed(seed)  # the data depends on `seed` only, not on global RNG state
    k = centers.shape[0]
    # Exactly equal counts per mode (up to one), shuffled: the data itself carries no sampling imbalance.
    modes = (torch.arange(num_samples) % k)[torch.randperm(num_samples, generator=gen)]
    x = centers[modes] + std * torch.randn(num_samples, 2, generator=gen)  # (N, 2)
    return InMemoryData(x.float(), None, DataSpec(name=name, shape=(2,), num_classes=None, is_image=False))


@register_dataset("ring8")
def ring8(*, radius: float = 1.0, std: float = 0.01, num_samples: int = 100_000, seed: int = 0) -> InMemoryData:
    """Eight equal-weight Gaussians evenly spaced on a circle of the given radius."""
    _check("ring8", num_samples, std)
    if not radius > 0:
        raise ConfigError(f"dataset 'ring8': radius must be > 0, got {radius}; set dataset.radius=1.0")
    return _mixture("ring8", _ring_centers(radius), std, num_samples, seed)


@register_dataset("grid25")
def grid25(*, std: float = 0.05, num_samples: int = 100_000, seed: int = 0) -> InMemoryData:
    """Twenty-five equal-weight Gaussians on the 5x5 grid {-4, -2, 0, 2, 4}^2."""
    _check("grid25", num_samples, std)
    return _mixture("grid25", _grid_centers(), std, num_samples, seed)


# name -> options -> centers (K, 2); the std is always the option of that name.
_CENTERS: dict[str, Callable[[dict[str, Any]], torch.Tensor]] = {
    "ring8": lambda o: _ring_centers(float(o["radius"])),
    "grid25": lambda o: _grid_centers(),
}


def toy_modes(name: str, options: Mapping[str, Any] | None = None) -> tuple[torch.Tensor, float]:
    """Mode centers (K, 2) and std of a toy dataset, from its options (a dataset config works too)."""
    if name not in _CENTERS:
        raise ConfigError(f"dataset '{name}' has no mode centers (toy datasets: {', '.join(sorted(_CENTERS))})")
    # Accept a whole dataset config: its `name` and `batch_size` are not builder options.
    opts = {k: v for k, v in (options or {}).items() if k not in ("name", "batch_size")}
    DATASETS.check_options(name, opts)
    defaults = {
        p.name: p.default
        for p in DATASETS.options(name).values()
        if p.default is not inspect.Parameter.empty
    }
    merged = {**defaults, **opts}
    return _CENTERS[name](merged), float(merged["std"])


def mode_centers(name: str, **options: Any) -> torch.Tensor:
    """Mode centers (K, 2) of a toy dataset with the given options."""
    return toy_modes(name, options)[0]
