"""Mirza & Osindero 2014, conditional GAN: the one-hot label is concatenated to z and to D's input."""
from __future__ import annotations

import math
from typing import Literal

import torch

from gan_runner.data.base import DataSpec
from gan_runner.models.base import GANModel, Latent, class_rows, one_hot, uniform_labels
from gan_runner.models.blocks import Norm, check_positive, check_probability
from gan_runner.models.d_options import DOptions, with_d_options
from gan_runner.models.gan import MLPDiscriminator, MLPGenerator
from gan_runner.registry import register_model


class ConditionalMLPGenerator(MLPGenerator):
    """G(z, y): MLP on [z, onehot(y)]."""

    def __init__(self, z_dim: int, k: int, spec: DataSpec, width: int, depth: int) -> None:
        super().__init__(z_dim + k, spec, width, depth)
        self.k = k

    def condition(self, latent: Latent) -> torch.Tensor:
        assert latent.y is not None, "CGAN's generator needs labels"
        return torch.cat([latent.z, one_hot(latent.y, self.k)], dim=1)  # (B, z_dim + k)


class ConditionalMLPDiscriminator(MLPDiscriminator):
    """D(x, y): MLP on [flatten(x), onehot(y)]."""

    def __init__(self, k: int, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.k = k

    def features(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        assert y is not None, "CGAN's discriminator needs labels"
        return torch.cat([x, one_hot(y, self.k).flatten(1)], dim=1)  # y (B,) or (B/m, m) packed: m one-hots


class CGAN(GANModel):
    """Class-conditional GAN; fakes are judged against the labels they were generated for."""

    requires_labels = True

    def sample_latent(self, n: int, device: torch.device | str, gen: torch.Generator | None = None) -> Latent:
        z = torch.randn(n, self.z_dim, device=device, generator=gen)
        return Latent(z, uniform_labels(n, self.num_classes, device, gen))

    def grid_latents(self, n: int, device: torch.device | str, gen: torch.Generator) -> dict[str, tuple[Latent, int]]:
        # One row per class, one z per column: columns show style, rows show the condition.
        y, rows, cols = class_rows(self.num_classes, n, device)
        z = torch.randn(cols, self.z_dim, device=device, generator=gen).repeat(rows, 1)
        return {"per_class": (Latent(z, y), cols)}


@register_model("cgan")
@with_d_options
def build_cgan(
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
) -> GANModel:
    """Conditional MLP GAN with the vanilla GAN's layer sizes; packed, D sees each sample's one-hot label."""
    check_positive("cgan", z_dim=z_dim, width=width, depth=depth, d_width=d_width, d_depth=d_depth, pieces=pieces)
    check_probability("cgan", dropout=dropout, input_dropout=input_dropout)
    k = spec.num_classes or 0
    G = ConditionalMLPGenerator(z_dim, k, spec, width, depth)
    D = ConditionalMLPDiscriminator(k, math.prod(d.spec(spec, "cgan").shape) + d.heads(k), [d_width] * d_depth,
                                    d_activation, pieces, dropout, input_dropout, d_norm, d.mbstd)
    return CGAN(spec, G, D, z_dim, d_transforms=d_transforms)
