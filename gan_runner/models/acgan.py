"""Odena et al. 2017, ACGAN: G(z, y); D has a real/fake head and an auxiliary class head.

D maximizes L_S + L_C and G maximizes L_C - L_S: both sides are trained to make the class head
right on real and generated images, which is what pushes G to class-distinct samples.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_runner.data.base import DataSpec
from gan_runner.models.base import DOut, GANModel, Latent, class_rows, one_hot, uniform_labels
from gan_runner.models.blocks import (
    DCGANBody,
    DCGANGenerator,
    Norm,
    check_positive,
    check_probability,
    dcgan_depth,
    dcgan_init,
)
from gan_runner.models.d_options import DOptions, with_d_options
from gan_runner.registry import register_model
from gan_runner.stats import StatsSink


class ACGenerator(nn.Module):
    """G(z, y): DCGAN stack on [z, onehot(y)]."""

    def __init__(self, z_dim: int, k: int, spec: DataSpec, depth: int, width: int) -> None:
        super().__init__()
        self.k = k
        self.net = DCGANGenerator(z_dim + k, spec.channels, depth, width)

    def forward(self, latent: Latent) -> torch.Tensor:
        assert latent.y is not None, "ACGAN's generator needs labels"
        return self.net(torch.cat([latent.z, one_hot(latent.y, self.k)], dim=1))  # (B, C, H, W)


class ACDiscriminator(nn.Module):
    """D(x) -> (real/fake logit, class logits); D does not see the label."""

    def __init__(self, spec: DataSpec, k: int, depth: int, width: int, norm: Norm, dropout: float,
                 mbstd: bool = False) -> None:
        super().__init__()
        self.body = DCGANBody(spec.channels, depth, width, norm, dropout, mbstd)
        self.adv = nn.Linear(self.body.out_features, 1)
        self.cls = nn.Linear(self.body.out_features, k)  # k = classes x pack: one class prediction per packed sample

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        h = self.body(x)
        return DOut(self.adv(h).squeeze(1), self.cls(h))  # (B,), (B, k)


class ACGAN(GANModel):
    """Auxiliary-classifier GAN."""

    requires_labels = True

    def __init__(self, *args, aux_weight: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.aux_weight = aux_weight

    def sample_latent(self, n: int, device: torch.device | str, gen: torch.Generator | None = None) -> Latent:
        z = torch.randn(n, self.z_dim, device=device, generator=gen)
        return Latent(z, uniform_labels(n, self.num_classes, device, gen))

    def d_aux_loss(self, real: DOut, y_real: torch.Tensor | None, fake: DOut, latent: Latent, stats: StatsSink) -> torch.Tensor | None:
        assert y_real is not None and real.aux is not None and fake.aux is not None
        ce_real = F.cross_entropy(real.aux, y_real)
        ce_fake = F.cross_entropy(fake.aux, latent.y)
        acc = (real.aux.argmax(1) == y_real).float().mean()
        stats.report("aux/class_ce_real", ce_real)
        stats.report("aux/class_acc_real", acc)
        return self.aux_weight * (ce_real + ce_fake)

    def g_aux_loss(self, fake: DOut, latent: Latent, stats: StatsSink) -> torch.Tensor | None:
        assert fake.aux is not None
        ce = F.cross_entropy(fake.aux, latent.y)
        acc = (fake.aux.argmax(1) == latent.y).float().mean()
        stats.report("aux/class_ce_fake", ce)
        stats.report("aux/class_acc_fake", acc)
        return self.aux_weight * ce

    def grid_latents(self, n: int, device: torch.device | str, gen: torch.Generator) -> dict[str, tuple[Latent, int]]:
        y, rows, cols = class_rows(self.num_classes, n, device)
        z = torch.randn(cols, self.z_dim, device=device, generator=gen).repeat(rows, 1)
        return {"per_class": (Latent(z, y), cols)}


@register_model("acgan")
@with_d_options
def build_acgan(spec: DataSpec, d_transforms: tuple, d: DOptions, *, z_dim: int = 100, width: int = 64,
                d_width: int | None = None, d_norm: Norm = "batch", dropout: float = 0.0, aux_weight: float = 1.0) -> GANModel:
    """ACGAN on DCGAN stacks; `dropout` in D (the paper used 0.5); packed, the class head predicts every sample's class."""
    depth = dcgan_depth(spec, "acgan")
    d_width = width if d_width is None else d_width
    check_positive("acgan", z_dim=z_dim, width=width, d_width=d_width)
    check_probability("acgan", dropout=dropout)
    k = spec.num_classes or 0
    G = ACGenerator(z_dim, k, spec, depth, width)
    D = ACDiscriminator(d.spec(spec, "acgan"), d.heads(k), depth, d_width, d_norm, dropout, d.mbstd)
    model = ACGAN(spec, G, D, z_dim, d_transforms=d_transforms, aux_weight=aux_weight)
    dcgan_init(model)
    return model
