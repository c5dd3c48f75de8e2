"""Radford et al. 2015, DCGAN: all-convolutional G and D, BN, ReLU/Tanh in G, LeakyReLU in D.

`model.width=64 model.z_dim=100 dataset.image_size=32` is the classic stack at 32x32
(G: 100 -> 256x4x4 -> 128x8x8 -> 64x16x16 -> Cx32x32; D mirrors it).
"""
from __future__ import annotations

import torch
from torch import nn

from gan_runner.data.base import DataSpec
from gan_runner.models.base import DOut, GANModel, Latent
from gan_runner.models.blocks import DCGANBody, DCGANGenerator, Norm, check_positive, dcgan_depth, dcgan_init
from gan_runner.models.d_options import DOptions, with_d_options
from gan_runner.registry import register_model


class ConvGenerator(nn.Module):
    """G(latent): the DCGAN stack on z."""

    def __init__(self, in_dim: int, spec: DataSpec, depth: int, width: int) -> None:
        super().__init__()
        self.net = DCGANGenerator(in_dim, spec.channels, depth, width)

    def forward(self, latent: Latent) -> torch.Tensor:
        return self.net(latent.z)  # (B, C, H, W)


class ConvDiscriminator(nn.Module):
    """D(x): the DCGAN body plus one linear real/fake logit."""

    def __init__(self, spec: DataSpec, depth: int, width: int, norm: Norm, mbstd: bool = False) -> None:
        super().__init__()
        self.body = DCGANBody(spec.channels, depth, width, norm, mbstd=mbstd)
        # = the paper's last 4x4 conv: bias-free after BN, biased like the body without a norm
        self.head = nn.Linear(self.body.out_features, 1, bias=self.body.biased)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        return DOut(self.head(self.body(x)).squeeze(1))  # (B,)


class DCGAN(GANModel):
    """Unconditional DCGAN."""


@register_model("dcgan")
@with_d_options
def build_dcgan(spec: DataSpec, d_transforms: tuple, d: DOptions, *, z_dim: int = 100, width: int = 32,
                d_width: int | None = None, d_norm: Norm = "batch") -> GANModel:
    """DCGAN (width 64 in the paper; 32, the YAML's CPU default); `d_width` defaults to `width`, `d_norm` 'layer' for GP losses."""
    depth = dcgan_depth(spec, "dcgan")
    d_width = width if d_width is None else d_width
    check_positive("dcgan", z_dim=z_dim, width=width, d_width=d_width)
    D = ConvDiscriminator(d.spec(spec, "dcgan"), depth, d_width, d_norm, d.mbstd)
    model = DCGAN(spec, ConvGenerator(z_dim, spec, depth, width), D, z_dim, d_transforms=d_transforms)
    dcgan_init(model)
    return model
