"""Pictures of a generator: image grids, and density plots for 2D data, as uint8 CHW tensors."""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Iterator

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


def row_labels(latent: Any, nrow: int) -> list[str] | None:
    """What each row of a grid holds, when every row shares one class (y=3) or first categorical code (c=3); else None."""
    for field, name in (("y", "y"), ("c_cat", "c")):
        t = getattr(latent, field, None)
        if t is None:
            continue
        first = (t if t.dim() == 1 else t[:, 0]).detach().cpu()
        if first.numel() % nrow:
            return None
        rows = first.view(-1, nrow)
        if bool((rows == rows[:, :1]).all()):
            return [f"{name}={int(v)}" for v in rows[:, 0]]
    return None


def label_rows(grid: torch.Tensor, labels: list[str] | None, padding: int = 2) -> torch.Tensor:
    """A uint8 (C, H, W) grid of len(labels) rows with a white margin on the left naming each row (tile's layout)."""
    if not labels:
        return grid
    import numpy as np
    from PIL import Image, ImageDraw

    c, h, w = grid.shape
    margin = 6 * max(len(t) for t in labels) + 6
    img = Image.new("RGB", (w + margin, h), "white")
    img.paste(Image.fromarray(grid.expand(3, -1, -1).permute(1, 2, 0).numpy()), (margin, 0))
    draw = ImageDraw.Draw(img)
    row_h = (h - padding) / len(labels)
    for r, text in enumerate(labels):
        draw.text((margin - 3, padding + (r + 0.5) * row_h), text, fill=(0, 0, 0), anchor="rm")
    out = torch.from_numpy(np.array(img)).permute(2, 0, 1).contiguous()
    return out if c == 3 else out[:1]  # tile makes grayscale RGB; a 1-channel grid stays 1-channel


def labelled_grid(x: torch.Tensor, nrow: int, latent: Any = None) -> torch.Tensor:
    """image_grid, with each row of one class or code named in a left margin (`latent`: the samples' latents)."""
    return label_rows(image_grid(x, nrow), None if latent is None else row_labels(latent, nrow))


REAL_COLOR, FAKE_COLOR, FRAME_COLOR = (40, 40, 40), (220, 30, 30), (190, 190, 190)


def plot_limit(reference: torch.Tensor) -> float:
    """Half-width of the square a 2D plot shows: the reference's extent plus a margin, rounded up to 0.5."""
    return math.ceil(float(reference.abs().max().clamp(min=0.5)) * 1.25 * 2) / 2


def scatter_image(fake: torch.Tensor, real: torch.Tensor | None = None, size: int = 256) -> torch.Tensor:
    """2D samples as a uint8 (3, size, size) plot with a framed, labelled axis: generated points red, real dark gray.

    The axes come from the real points (from the samples when there are none), so every picture of a run has the
    same scale and a generator that wanders off shows at the frame; the real points are drawn last, so the
    modes stay visible under a cloud of samples.
    """
    import numpy as np
    from PIL import Image, ImageDraw

    lim = plot_limit(real if real is not None else fake)
    left, top, right, bottom = 24, 4, size - 5, size - 18  # plot area inside the frame; labels go left and below
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), outline=FRAME_COLOR)
    step = 1.0 if lim <= 5 else float(math.ceil(lim / 5))
    for k in range(-int(lim // step), int(lim // step) + 1):
        v = k * step
        x = left + (v / lim + 1) / 2 * (right - left)
        y = bottom - (v / lim + 1) / 2 * (bottom - top)
        draw.line((x, bottom + 1, x, bottom + 4), fill=FRAME_COLOR)
        draw.line((left - 4, y, left - 1, y), fill=FRAME_COLOR)
        draw.text((x, bottom + 5), f"{v:g}", fill=(90, 90, 90), anchor="mt")
        draw.text((left - 5, y), f"{v:g}", fill=(90, 90, 90), anchor="rm")
    pixels = np.array(img)

    def plot(p: torch.Tensor, color: tuple[int, int, int]) -> None:
        xy = (p.detach().cpu().float() / lim).clamp(-1, 1).numpy()  # points outside the axes sit on the frame
        cols = np.rint(left + (xy[:, 0] + 1) / 2 * (right - left)).astype(int)
        rows = np.rint(bottom - (xy[:, 1] + 1) / 2 * (bottom - top)).astype(int)
        pixels[rows, cols] = color

    plot(fake, FAKE_COLOR)
    if real is not None:
        plot(real, REAL_COLOR)
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


def picture_renderer(is_image: bool, reference: torch.Tensor | None = None):
    """(samples, nrow, latent) -> uint8 picture for the data's kind: an image grid whose rows of one class or code
    say which (`latent`, when given), or a 2D scatter over `reference` points."""
    if is_image:
        return labelled_grid
    ref = None if reference is None else reference[:2000].detach().cpu()  # the density the samples should match
    return lambda x, nrow, latent=None: scatter_image(x, ref)
