"""WGAN-LP (Petzka et al. 2018): the Lipschitz *penalty*, one-sided, instead of WGAN-GP's two-sided one.

Critic loss E f(G(z)) - E f(x) + lambda E[max(0, ||grad f(x_hat)|| - 1)^2] on random real/fake interpolates:
only gradients above norm 1 are penalized, which is what the Lipschitz constraint asks.
"""
from __future__ import annotations

import torch

from gan_runner import register_loss
from gan_runner.losses.base import AdversarialLoss
from gan_runner.losses.wasserstein import GradientPenalty


class LipschitzPenalty(GradientPenalty):
    """lambda * E[max(0, ||grad f(x_hat)|| - 1)^2]: gan-runner's WGAN-GP penalty with a one-sided deviation."""

    name = "lp"

    def deviation(self, norm: torch.Tensor) -> torch.Tensor:
        return (norm - 1).clamp(min=0).pow(2)


@register_loss("wgan_lp")
class WGANLP(AdversarialLoss):
    """WGAN-LP (paper: lambda 10 as WGAN-GP, Adam 1e-4 betas (0, 0.9), n_critic 5)."""

    probabilistic = False

    def __init__(self, *, lp_weight: float = 10.0) -> None:
        if lp_weight < 0:
            from gan_runner.errors import ConfigError

            raise ConfigError(f"loss 'wgan_lp' option 'lp_weight' must be >= 0, got {lp_weight}")
        self.penalties = (LipschitzPenalty(lp_weight),)

    def d_terms(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return fake.mean() - real.mean()

    def g_term(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return -fake.mean()
