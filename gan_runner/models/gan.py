"""Goodfellow et al. 2014: MLP generator (ReLU) and MLP discriminator (maxout + dropout).

Defaults follow the paper's MNIST model (pylearn2 config): G 1200-1200 ReLU, D two maxout layers
of 240 units x 5 pieces, dropout 0.5 on hidden and 0.2 on the input. Works on images (flattened)
and on 2D data (ring8/grid25), where G's output is linear instead of Tanh.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from gan_runner.data.base import DataSpec
from gan_runner.models.base import DOut, GANModel, Latent
from gan_runner.models.blocks import MinibatchStd, Norm, check_positive, check_probability, mlp_layers
from gan_runner.models.d_options import DOptions, with_d_options
from gan_runner.registry import register_model


class MLPGenerator(nn.Module):
    """z (and any conditioning vector) -> MLP -> a sample of the data's shape."""

    def __init__(self, in_dim: int, spec: DataSpec, width: int, depth: int, norm: Norm = "none") -> None:
        super().__init__()
        layers, n = mlp_layers(in_dim, [width] * depth, "relu", norm=norm)
        out = math.prod(spec.shape)
        # Images live in [-1, 1]; 2D mixtures span e.g. [-4, 4], so no squashing there.
        self.net = nn.Sequential(*layers, nn.Linear(n, out), nn.Tanh() if spec.is_image else nn.Identity())
        self.shape = spec.shape

    def forward(self, latent: Latent) -> torch.Tensor:
        return self.net(self.condition(latent)).view(-1, *self.shape)  # (B, *shape)

    def condition(self, latent: Latent) -> torch.Tensor:
        """G's input vector; conditional variants append their labels."""
        return latent.z


class MLPDiscriminator(nn.Module):
    """Flattened sample (and any conditioning vector) -> hidden layers -> one logit."""

    def __init__(self, in_dim: int, hidden: list[int], activation: Literal["maxout", "leaky_relu"], pieces: int,
                 dropout: float, input_dropout: float, norm: Norm, mbstd: bool = False) -> None:
        super().__init__()
        layers, n = mlp_layers(in_dim, hidden, activation, pieces=pieces, dropout=dropout, norm=norm)
        if mbstd:  # the batch's feature spread as one more input of the last layer (Karras et al. 2018)
            layers.append(MinibatchStd())
            n += 1
        self.input_dropout = nn.Dropout(input_dropout)  # on the sample only: labels are never dropped
        self.net = nn.Sequential(*layers, nn.Linear(n, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        return DOut(self.net(self.features(self.input_dropout(x.flatten(1)), y)).squeeze(1))  # (B,)

    def features(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """D's input vector from the flattened sample; conditional variants append their labels."""
        return x


class VanillaGAN(GANModel):
    """The original GAN: minimax game between two MLPs."""


@register_model("gan")
@with_d_options
def build_gan(
    spec: DataSpec, d_transforms: tuple, d: DOptions,
    *,
    z_dim: int = 100,
    width: int = 1200,
    depth: int = 2,
    d_width: int = 240,
    d_depth: int = 2,
    d_activation: Literal["maxout", "leaky_relu"] = "maxout",
    pieces: int = 5,
    dropout: float = 0.5,
    input_dropout: float = 0.2,
    d_norm: Norm = "none",
    g_norm: Norm = "none",
) -> GANModel:
    """Goodfellow et al. 2014 MLP GAN (D stabilizers: models/d_options.py).

    g_norm="batch" puts batch norm before each of G's ReLUs, as PacGAN's 2D generator does.
    """
    check_positive("gan", z_dim=z_dim, width=width, depth=depth, d_width=d_width, d_depth=d_depth, pieces=pieces)
    check_probability("gan", dropout=dropout, input_dropout=input_dropout)
    G = MLPGenerator(z_dim, spec, width, depth, g_norm)
    d_in = math.prod(d.spec(spec, "gan").shape)
    D = MLPDiscriminator(d_in, [d_width] * d_depth, d_activation, pieces, dropout, input_dropout, d_norm, d.mbstd)
    return VanillaGAN(spec, G, D, z_dim, d_transforms=d_transforms)
