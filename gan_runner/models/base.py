"""The interface every GAN variant implements, so the trainer and losses never branch on model type.

A model is a pair G, D plus what differs between variants: how the latent is sampled (z, class
labels, InfoGAN codes), which auxiliary objectives D and G carry (ACGAN's class loss, InfoGAN's
mutual-information term), and which latents make an informative picture grid.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
from torch import nn

from gan_runner.data.base import DataSpec
from gan_runner.errors import ConfigError
from gan_runner.stats import StatsSink


class Latent(NamedTuple):
    """Everything G consumes: noise plus whatever conditioning the variant uses."""

    z: torch.Tensor  # (B, z_dim)
    y: torch.Tensor | None = None  # (B,) class labels (CGAN, ACGAN)
    c_cat: torch.Tensor | None = None  # (B, n_cat) categorical code indices (InfoGAN)
    c_cont: torch.Tensor | None = None  # (B, n_cont) continuous codes in [-1, 1] (InfoGAN)

    def map(self, fn: "Callable[[torch.Tensor], torch.Tensor]") -> "Latent":
        """The same latent with `fn` applied to every field it has (rows selected, moved to a device, ...)."""
        return Latent(*[t if t is None else fn(t) for t in self])

    def to(self, device: torch.device | str) -> "Latent":
        """The same latent on `device`."""
        return self.map(lambda t: t.to(device))


class DOut(NamedTuple):
    """What D returns: the adversarial logit and, for some variants, an auxiliary head's output."""

    adv: torch.Tensor  # (B,) real/fake logit or critic value (never a sigmoid)
    aux: torch.Tensor | None = None  # (B, K) class logits (ACGAN) or Q's code predictions (InfoGAN)


class GANModel(nn.Module):
    """Base class: holds G and D; subclasses override the hooks their paper needs."""

    #: what the model's latents carry, stated (metrics read these; nothing samples a latent to guess them)
    requires_labels = False  # class labels y: class-conditional variants (CGAN, ACGAN)
    has_codes = False  # categorical and continuous codes c (InfoGAN)

    def __init__(self, spec: DataSpec, G: nn.Module, D: nn.Module, z_dim: int, *, pack: int = 1,
                 d_transforms: tuple = ()) -> None:
        super().__init__()
        self.spec = spec
        self.G = G
        self.D = D
        self.z_dim = z_dim
        self.pack = pack  # PacGAN (Lin et al. 2018): D judges m samples at once, concatenated along channels or features
        self.d_transforms = tuple(d_transforms)  # D-input transforms while D trains (DiffAugment, instance noise)
        if self.requires_labels and not spec.num_classes:
            raise ConfigError(
                f"model '{type(self).__name__.lower()}' needs class labels but dataset '{spec.name}' has none; "
                "pick a labeled dataset (mnist_5k, digits, mnist, ...)"
            )

    @property
    def num_classes(self) -> int:
        """Number of classes of a conditional model's dataset."""
        assert self.spec.num_classes, "only conditional models use classes"
        return self.spec.num_classes

    def sample_latent(self, n: int, device: torch.device | str, gen: torch.Generator | None = None) -> Latent:
        """A batch of latents from the prior (z ~ N(0, I) unless a variant says otherwise)."""
        return Latent(torch.randn(n, self.z_dim, device=device, generator=gen))

    def discriminate(self, x: torch.Tensor, y: torch.Tensor | None) -> DOut:
        """D's output on a batch; `y` is the batch's labels (used only by conditional variants).

        Under PacGAN packing D judges groups of `pack` samples (their labels as (B/m, m)): `adv` is per group,
        `aux` per sample.
        """
        if self.D.training:  # augmentation and noise are training-time only: evaluation sees the real D
            for t in self.d_transforms:
                x = t(x)
        if self.pack == 1:
            return self.D(x, y)
        n = x.shape[0]
        out = self.D(pack_samples(x, self.pack), None if y is None else y.reshape(-1, self.pack))  # y: (B/m, m)
        # per-sample heads come out (B/m, m*K): back to (B, K) so aux terms pair them with their own samples
        return out if out.aux is None else out._replace(aux=out.aux.reshape(n, -1))

    def begin_step(self, step: int) -> None:
        """Called before each training iteration (schedules such as annealed instance noise)."""
        for t in self.d_transforms:
            t.begin_step(step)

    def d_aux_loss(self, real: DOut, y_real: torch.Tensor | None, fake: DOut, latent: Latent,
                   stats: StatsSink) -> torch.Tensor | None:
        """Extra objective for D's step, reporting its statistics (None: the variant has none)."""
        return None

    def g_aux_loss(self, fake: DOut, latent: Latent, stats: StatsSink) -> torch.Tensor | None:
        """Extra objective for G's step, reporting its statistics (None: the variant has none)."""
        return None

    def grid_latents(self, n: int, device: torch.device | str, gen: torch.Generator) -> dict[str, tuple[Latent, int]]:
        """Named latents for picture grids, each with its row length: {"samples": (latent, nrow)}."""
        side = max(1, int(n**0.5))
        count = side * side if self.spec.is_image else max(n, 1000)  # a 2D density plot needs many points
        return {"samples": (self.sample_latent(count, device, gen), side)}


def one_hot(y: torch.Tensor, k: int) -> torch.Tensor:
    """Float one-hot of (B,) labels -> (B, k)."""
    return torch.nn.functional.one_hot(y, k).to(torch.float32)


def uniform_labels(n: int, k: int, device: torch.device | str, gen: torch.Generator | None) -> torch.Tensor:
    """(n,) labels uniform over k classes."""
    return torch.randint(0, k, (n,), device=device, generator=gen)


def class_rows(k: int, n: int, device: torch.device | str) -> tuple[torch.Tensor, int, int]:
    """Labels for a grid of about n images with one row per class -> (labels, rows, cols).

    With k <= n every class gets a row of n // k columns: [0]*cols + [1]*cols + ... With more classes
    than images (Stacked MNIST's 1,000) the grid shows sqrt(n) classes spread evenly over 0..k-1,
    sqrt(n) columns each, so a picture stays about n images whatever k is.
    """
    if k <= n:
        classes, cols = torch.arange(k, device=device), max(1, n // k)
    else:
        side = max(1, math.isqrt(n))
        classes, cols = torch.linspace(0, k - 1, side, device=device).round().long(), side
    return classes.repeat_interleave(cols), len(classes), cols


def pack_samples(x: torch.Tensor, m: int) -> torch.Tensor:
    """PacGAN packing: (B, C, ...) -> (B/m, m*C, ...), m consecutive samples side by side in channels."""
    if x.shape[0] % m:
        raise ConfigError(f"model.pack={m} needs batches divisible by {m}, got a batch of {x.shape[0]}")
    return x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])
