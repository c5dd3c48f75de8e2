"""Losses on D's logits: the 2014 minimax game, its non-saturating variant, least squares, hinge."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_runner.errors import ConfigError
from gan_runner.losses.base import AdversarialLoss
from gan_runner.registry import register_loss


def _d_bce(real: torch.Tensor, fake: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    # -[log D(x) + log(1 - D(G(z)))], with logits for numerical stability: softplus(-l) = -log sigmoid(l).
    # One-sided label smoothing (Salimans et al. 2016) targets 1 - s for real samples, 0 (never s) for fakes.
    real_term = F.softplus(-real).mean() if not smoothing else \
        (1 - smoothing) * F.softplus(-real).mean() + smoothing * F.softplus(real).mean()
    return real_term + F.softplus(fake).mean()


class _BCE(AdversarialLoss):
    """D's binary cross-entropy, with optional one-sided label smoothing of the real targets."""

    density_ratio = True  # D*(x) = p_data / (p_data + p_g): sigmoid(logit) gives the density ratio

    def __init__(self, *, label_smoothing: float = 0.0) -> None:
        if not 0 <= label_smoothing < 1:
            raise ConfigError(f"loss option 'label_smoothing' must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = label_smoothing

    def d_terms(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return _d_bce(real, fake, self.label_smoothing)


@register_loss("minimax")
class Minimax(_BCE):
    """Goodfellow et al. 2014, the value function itself: G minimizes log(1 - D(G(z))).

    Saturates early in training (the paper's own caveat); kept for faithfulness and comparison.
    """

    def g_term(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return -F.softplus(fake).mean()  # log(1 - sigmoid(l)) = -softplus(l)


@register_loss("ns")
class NonSaturating(_BCE):
    """Goodfellow et al. 2014's practical variant: G maximizes log D(G(z)) (strong early gradients)."""

    def g_term(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return F.softplus(-fake).mean()


@register_loss("lsgan")
class LeastSquares(AdversarialLoss):
    """Mao et al. 2017: D regresses real to b and fake to a; G pushes fakes to c (0-1 coding: a=0, b=c=1)."""

    probabilistic = False
    family = "lsgan"  # squared errors; D outputs on the a/b coding's scale

    def __init__(self, *, a: float = 0.0, b: float = 1.0, c: float = 1.0) -> None:
        self.a, self.b, self.c = a, b, c

    def d_terms(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((real - self.b).pow(2).mean() + (fake - self.a).pow(2).mean())

    def g_term(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return 0.5 * (fake - self.c).pow(2).mean()


@register_loss("hinge")
class Hinge(AdversarialLoss):
    """Lim & Ye 2017 / Miyato et al. 2018: D minimizes relu(1 - D(x)) + relu(1 + D(G(z))); G minimizes -D(G(z))."""

    probabilistic = False
    family = "hinge"

    def d_terms(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()

    def g_term(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return -fake.mean()


def check_nonnegative(loss: str, **values: float) -> None:
    """ConfigError for a negative loss option."""
    for key, v in values.items():
        if v < 0:
            raise ConfigError(f"loss '{loss}' option '{key}' must be >= 0, got {v}")
