"""The ResNet generator and critic of Gulrajani et al. 2017's CIFAR-10 experiments (WGAN-GP, appendix F), scaled.

G: z -> dense 4x4 x C -> k residual up-blocks (BN, ReLU, nearest 2x upsampling, 3x3 convs) -> BN, ReLU, 3x3 conv, Tanh.
D: a first down-block (conv, ReLU, conv, mean-pool; pooled 1x1 shortcut), k-1 down-blocks, 2 plain blocks, ReLU,
global sum pool, dense -> 1. No batch norm in the critic (a gradient penalty wants none). C = `width` (128 in the paper).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_runner import register_model
from gan_runner.data.base import DataSpec
from gan_runner.models.base import DOut, GANModel, Latent
from gan_runner.models.d_options import DOptions, with_d_options


class UpBlock(nn.Module):
    """BN-ReLU-up-conv-BN-ReLU-conv with a 1x1 upsampled shortcut."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(ch), nn.Conv2d(ch, ch, 3, 1, 1)
        self.bn2, self.conv2 = nn.BatchNorm2d(ch), nn.Conv2d(ch, ch, 3, 1, 1)
        self.skip = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.skip(F.interpolate(x, scale_factor=2))  # (B, C, 2H, 2W)


class DownBlock(nn.Module):
    """(ReLU)-conv-ReLU-conv-[pool] with a (pooled) 1x1 shortcut; the first block skips the leading ReLU."""

    def __init__(self, ch_in: int, ch: int, down: bool, first: bool = False) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(ch_in, ch, 3, 1, 1), nn.Conv2d(ch, ch, 3, 1, 1)
        self.skip = nn.Conv2d(ch_in, ch, 1) if (down or ch_in != ch) else nn.Identity()
        self.down, self.first = down, first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        skip = self.skip(x)
        if self.down:
            h, skip = F.avg_pool2d(h, 2), F.avg_pool2d(skip, 2)
        return h + skip


class ResNetG(nn.Module):
    def __init__(self, z_dim: int, spec: DataSpec, width: int, ups: int) -> None:
        super().__init__()
        self.width = width
        self.dense = nn.Linear(z_dim, 16 * width)
        self.blocks = nn.Sequential(*[UpBlock(width) for _ in range(ups)])
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, spec.channels, 3, 1, 1), nn.Tanh())

    def forward(self, latent: Latent) -> torch.Tensor:
        return self.out(self.blocks(self.dense(latent.z).view(-1, self.width, 4, 4)))  # (B, C, H, W)


class ResNetD(nn.Module):
    def __init__(self, spec: DataSpec, width: int, downs: int) -> None:
        super().__init__()
        blocks = [DownBlock(spec.channels, width, True, first=True)]
        blocks += [DownBlock(width, width, True) for _ in range(downs - 1)]
        blocks += [DownBlock(width, width, False), DownBlock(width, width, False)]
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        h = F.relu(self.body(x)).sum(dim=(2, 3))  # (B, C): global sum pooling
        return DOut(self.head(h).squeeze(1))  # (B,)


@register_model("resnet")
@with_d_options  # pack, mbstd and spectral_norm come with the runner's one mechanism
def build_resnet(spec: DataSpec, d_transforms: tuple, d: DOptions, *, z_dim: int = 128, width: int = 128,
                 d_width: int | None = None) -> GANModel:
    """WGAN-GP's CIFAR ResNet (width 128 in the paper); images of side 4 * 2^k."""
    from gan_runner.errors import ConfigError

    size = spec.image_size if spec.is_image else 0
    ups = size.bit_length() - 3 if size >= 8 and size & (size - 1) == 0 else -1
    if ups < 1:
        raise ConfigError(f"model 'resnet' needs square images of side 8, 16, 32, ...; got shape {spec.shape}")
    if d.mbstd:
        raise ConfigError("model 'resnet' has no minibatch-std layer (its critic ends in global sum pooling)")
    return GANModel(spec, ResNetG(z_dim, spec, width, ups), ResNetD(d.spec(spec, "resnet"), d_width or width, ups),
                    z_dim, d_transforms=d_transforms)
