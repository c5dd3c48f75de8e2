"""Pictures of a generator: image grids, and density plots for 2D data, as uint8 CHW tensors."""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from gan_runner.data.base import to_uint8_images


@contextmanager
def sampling_mode(G: nn.Module) -> Iterator[None]:
    """Generate with batch statistics (as during training) without touching BN running stats.

    BN generators sample best with batch statistics; momentum 0 keeps the running estimates
    unchanged, so drawing pictures never alters what a checkpoint holds.
    """
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    counts = [None if m.num_batches_tracked is None else m.num_batches_tracked.clone() for m in bns]
    was_training = G.training
    for m in bns:
        m.momentum = 0.0
    G.train()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, mom, n in zip(bns, saved, counts):
            m.momentum = mom
            if n is not None:  # the batch counter too: a checkpoint is the same with or without pictures
                m.num_batches_tracked.copy_(n)
        G.train(was_training)


def tile(x: torch.Tensor, nrow: int, padding: int = 2, pad_value: int = 255) -> torch.Tensor:
    """(N, C, H, W) -> one (3 or C, H', W') grid, `nrow` per row: torchvision's make_grid layout.

    Written here because `import torchvision` pulls in torch._dynamo through torchvision.ops and
    costs every gan-run/gan-sample start seconds for a few lines of indexing; grayscale becomes RGB
    and one image comes back unpadded, as make_grid does (tests/test_structure.py compares them).
    """
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    n, c, h, w = x.shape
    if n == 1:
        return x[0].clone()
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    hp, wp = h + padding, w + padding
    grid = torch.full((c, rows * hp + padding, cols * wp + padding), pad_value, dtype=x.dtype)
    for k in range(n):
        r, col = divmod(k, cols)
        grid[:, r * hp + padding:r * hp + padding + h, col * wp + padding:col * wp + padding + w] = x[k]
    return grid


def image_grid(x: torch.Tensor, nrow: int) -> torch.Tensor:
    """(N, C, H, W) images in [-1, 1] -> one uint8 (C', H', W') grid with `nrow` images per row."""
    return tile(to_uint8_images(x).cpu(), nrow)


def scatter_image(fake: torch.Tensor, real: torch.Tensor | None = None, size: int = 256) -> torch.Tensor:
    """2D samples as a uint8 (3, size, size) picture: real points gray, generated points red."""
    pts = fake if real is None else torch.cat([fake, real])
    lim = float(pts.abs().max().clamp(min=1.0)) * 1.1
    img = torch.full((3, size, size), 255, dtype=torch.uint8)

    def plot(p: torch.Tensor, color: tuple[int, int, int]) -> None:
        ij = ((p.cpu().float() / lim + 1) / 2 * (size - 1)).round().long().clamp(0, size - 1)
        for c in range(3):
            img[c, size - 1 - ij[:, 1], ij[:, 0]] = color[c]

    if real is not None:
        plot(real, (170, 170, 170))
    plot(fake, (220, 30, 30))
    return img


def picture_renderer(is_image: bool, reference: torch.Tensor | None = None):
    """(samples, nrow) -> uint8 picture for the data's kind: an image grid, or a 2D scatter over `reference` points."""
    if is_image:
        return image_grid
    ref = None if reference is None else reference[:2000].detach().cpu()  # the density the samples should match
    return lambda x, nrow: scatter_image(x, ref)
