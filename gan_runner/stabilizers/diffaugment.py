"""DiffAugment (Zhao et al. 2020): the same differentiable augmentations on real and fake images before D.

D never sees an un-augmented image while training, so it cannot memorize a small dataset; because
every op is differentiable, G's gradient passes through the augmentation. Images are in [-1, 1].
Policy ops, as in the paper: color (brightness, saturation, contrast), translation (up to 1/8 of
the image, zero padding), cutout (a zeroed square of half the image side).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_runner.errors import ConfigError


def color(x: torch.Tensor) -> torch.Tensor:
    """Random brightness (+U(-0.5, 0.5)), saturation (x U(0, 2)) and contrast (x U(0.5, 1.5)) per sample."""
    b = x.shape[0]
    x = x + (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
    mean_c = x.mean(dim=1, keepdim=True)  # (B, 1, H, W) per-pixel mean over channels
    x = (x - mean_c) * (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean_c
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return (x - mean) * (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ratio * size pixels in x and y, filling with zeros."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (b, 1, 1), device=x.device)
    padded = F.pad(x, [sx, sx, sy, sy]).permute(0, 2, 3, 1)  # (B, H+2sy, W+2sx, C)
    gy = torch.arange(h, device=x.device).view(1, h, 1) + dy + sy  # (B, H, 1) source rows
    gx = torch.arange(w, device=x.device).view(1, 1, w) + dx + sx  # (B, 1, W) source columns
    bi = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded[bi, gy, gx].permute(0, 3, 1, 2)  # (B, C, H, W): out[i, j] = x[i + dy, j + dx] or 0


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero a square of side ratio * size at a random centre (it may hang over the border)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    top, left = cy - ch // 2, cx - cw // 2  # (B, 1, 1) corner of the square
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)  # (B, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


OPS = {"color": color, "translation": translation, "cutout": cutout}


class DiffAugment:
    """A D-input transform applying the policy's ops in order to every batch D sees while training."""

    def __init__(self, policy: str | list[str]) -> None:
        items = policy.split(",") if isinstance(policy, str) else [str(p) for p in policy]
        names = [p.strip() for p in items if p.strip()]
        unknown = [n for n in names if n not in OPS]
        if not names or unknown:
            raise ConfigError(f"stabilize.diffaugment={policy!r}: use ops from {', '.join(OPS)}, e.g. [color,translation,cutout]")
        self.ops = [OPS[n] for n in names]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for op in self.ops:
            x = op(x)
        return x

    def begin_step(self, step: int) -> None:
        """No schedule."""
