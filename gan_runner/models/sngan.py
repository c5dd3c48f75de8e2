"""Miyato et al. 2018, SNGAN: the "standard CNN" of the paper's Table 3, with spectral norm on every D layer.

At 32x32 (k = 3 upsamplings, width 64): G z(128) -> dense 4x4x512 -> deconv 4x4/2 256 -> 128 -> 64 (BN, ReLU)
-> conv 3x3 -> C, Tanh. D: conv 3x3/1 64, 4x4/2 64, 3x3/1 128, 4x4/2 128, 3x3/1 256, 4x4/2 256, 3x3/1 512,
LeakyReLU(0.1) after each, dense -> 1. Other sizes 4 * 2^k use k stages. Meant for loss=hinge.
`d_norm=layer` (what loss=wgan_gp asks every model for: a per-sample norm, never batch norm, under a gradient
penalty) adds layer norm after each D conv but the first, as Kurach et al. 2019 pair SN with GP and LN.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from gan_runner.data.base import DataSpec
from gan_runner.models.base import DOut, GANModel, Latent
from gan_runner.models.blocks import MinibatchStd, check_positive, dcgan_depth, norm2d
from gan_runner.models.d_options import DOptions, with_d_options
from gan_runner.registry import register_model


class SNGenerator(nn.Module):
    """G(z): dense to 4x4, k fractionally-strided 4x4 convs with BN + ReLU, a 3x3 conv to the image, Tanh."""

    def __init__(self, z_dim: int, spec: DataSpec, depth: int, width: int) -> None:
        super().__init__()
        ch = width * 2**depth  # 512 at width 64, 32x32
        layers: list[nn.Module] = [nn.Linear(z_dim, ch * 16), nn.Unflatten(1, (ch, 4, 4)), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(depth):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.Conv2d(ch, spec.channels, 3, 1, 1), nn.Tanh()]  # (B, C, H, W)
        self.net = nn.Sequential(*layers)

    def forward(self, latent: Latent) -> torch.Tensor:
        return self.net(latent.z)


class SNDiscriminator(nn.Module):
    """D(x): pairs of (3x3 stride 1, 4x4 stride 2) convs per stage, a 3x3 conv, a dense logit; layer norm optional."""

    def __init__(self, spec: DataSpec, depth: int, width: int, mbstd: bool, norm: Literal["none", "layer"] = "none") -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch_in = spec.channels
        for i in range(depth):
            ch = width * 2**i
            layers += [nn.Conv2d(ch_in, ch, 3, 1, 1), *self._norm(norm if i else "none", ch), nn.LeakyReLU(0.1, True),
                       nn.Conv2d(ch, ch, 4, 2, 1), *self._norm(norm, ch), nn.LeakyReLU(0.1, True)]
            ch_in = ch
        if mbstd:
            layers.append(MinibatchStd())
            ch_in += 1
        ch = width * 2**depth
        layers += [nn.Conv2d(ch_in, ch, 3, 1, 1), *self._norm(norm, ch), nn.LeakyReLU(0.1, True), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(ch * 16, 1)

    @staticmethod
    def _norm(kind: str, ch: int) -> list[nn.Module]:
        # no module at all without a norm (not an Identity): the layer indices, and so checkpoints, stay as before
        return [] if kind == "none" else [norm2d(kind, ch)]  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        return DOut(self.head(self.body(x)).squeeze(1))  # (B,)


class SNGAN(GANModel):
    """Unconditional SNGAN (standard CNN)."""


@register_model("sngan")
@with_d_options(always_sn=True)
def build_sngan(spec: DataSpec, d_transforms: tuple, d: DOptions, *, z_dim: int = 128, width: int = 32,
                d_norm: Literal["none", "layer"] = "none") -> GANModel:
    """SNGAN standard CNN; `width` is D's first and G's last stage width (64 in the paper, 32 by default); no BN in D."""
    depth = dcgan_depth(spec, "sngan")
    check_positive("sngan", z_dim=z_dim, width=width)
    model = SNGAN(spec, SNGenerator(z_dim, spec, depth, width),
                  SNDiscriminator(d.spec(spec, "sngan"), depth, width, d.mbstd, d_norm), z_dim, d_transforms=d_transforms)
    for m in model.modules():  # the SNGAN reference code's init: Xavier-uniform weights, zero biases
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):  # norms keep their (1, 0) init
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return model  # with_d_options applies spectral norm to D (always on here)
