"""A dataset made on the fly: grayscale images of one Gaussian blob, labeled by the quadrant it sits in."""
from __future__ import annotations

import torch

from gan_runner import register_dataset
from gan_runner.data.base import DataSpec, InMemoryData
from gan_runner.errors import ConfigError


@register_dataset("blobs")
def blobs(*, num_samples: int = 2000, image_size: int = 16, sigma: float = 1.5, seed: int = 0) -> InMemoryData:
    """`num_samples` uint8 images (1, S, S) of a blob of width `sigma` pixels; label = quadrant (0-3)."""
    if num_samples < 1 or image_size < 4 or not sigma > 0:
        raise ConfigError("dataset 'blobs' needs num_samples >= 1, image_size >= 4 and sigma > 0")
    gen = torch.Generator().manual_seed(seed)
    s = image_size
    centers = torch.rand(num_samples, 2, generator=gen) * (s - 1)  # (N, 2) row, col
    grid = torch.arange(s, dtype=torch.float32)
    dy = (grid.view(1, s, 1) - centers[:, 0].view(-1, 1, 1)) ** 2
    dx = (grid.view(1, 1, s) - centers[:, 1].view(-1, 1, 1)) ** 2
    img = torch.exp(-(dy + dx) / (2 * sigma**2))  # (N, S, S) in [0, 1]
    labels = (centers[:, 0] >= s / 2).long() * 2 + (centers[:, 1] >= s / 2).long()
    x = (img * 255).round().to(torch.uint8).unsqueeze(1)  # (N, 1, S, S)
    return InMemoryData(x, labels, DataSpec("blobs", (1, s, s), 4, True))
