"""Wasserstein losses: the critic estimates W(P_r, P_g) = E[f(x)] - E[f(G(z))] under a Lipschitz constraint.

WGAN (Arjovsky et al. 2017) enforces it by clipping every critic weight to [-c, c] after each
critic step; WGAN-GP (Gulrajani et al. 2017) by penalizing (||grad f(x_hat)|| - 1)^2 on random
interpolates between real and fake samples.
"""
from __future__ import annotations

import torch

from gan_runner.losses.base import AdversarialLoss, input_for_grad
from gan_runner.losses.standard import check_nonnegative
from gan_runner.models.base import GANModel
from gan_runner.registry import register_loss
from gan_runner.stats import StatsSink


class _Wasserstein(AdversarialLoss):
    probabilistic = False
    family = "wgan"  # critic values; wgan and wgan_gp estimate the same distance
    extra_console_keys = ("wasserstein",)  # the critic's estimate of W(P_r, P_g)

    def d_terms(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return fake.mean() - real.mean()  # = -W estimate

    def g_term(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return -fake.mean()

    def report_d_values(self, real: torch.Tensor, fake: torch.Tensor, stats: StatsSink) -> None:
        super().report_d_values(real, fake, stats)
        stats.report("wasserstein", real.mean() - fake.mean())


@register_loss("wgan")
class WGAN(_Wasserstein):
    """WGAN with weight clipping (paper defaults: clip 0.01, RMSProp 5e-5, n_critic 5)."""

    def __init__(self, *, clip: float = 0.01) -> None:
        check_nonnegative("wgan", clip=clip)
        self.clip = clip

    @torch.no_grad()
    def after_d_step(self, model: GANModel) -> None:
        # The reference implementation clamps every critic parameter, norm affine ones included.
        for p in model.D.parameters():
            p.clamp_(-self.clip, self.clip)


class GradientPenalty:
    """WGAN-GP's two-sided penalty: weight * E[(||grad f(x_hat)|| - 1)^2] on random real/fake interpolates, every D step.

    Subclasses change `deviation` for other shapes of the same penalty (WGAN-LP's one-sided one, in the plugin example).
    """

    name = "gp"
    every = 1

    def __init__(self, weight: float) -> None:
        self.weight = weight

    def deviation(self, norm: torch.Tensor) -> torch.Tensor:
        """The per-sample penalty of gradient norms (B,): (||g|| - 1)^2."""
        return (norm - 1).pow(2)

    def __call__(self, model: GANModel, real: torch.Tensor, y: torch.Tensor | None, fake: torch.Tensor,
                 fake_y: torch.Tensor | None, stats: StatsSink) -> torch.Tensor:
        eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
        x_hat = input_for_grad(eps * real + (1 - eps) * fake)  # (B, ...) random interpolates; G's graph kept if fake has one
        out = model.discriminate(x_hat, y).adv
        (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
        norm = grad.flatten(1).norm(2, dim=1)  # (B,)
        gp = self.deviation(norm).mean()
        stats.report(f"{self.name}/penalty", gp)
        stats.report(f"{self.name}/grad_norm", norm.mean())
        return self.weight * gp


@register_loss("wgan_gp")
class WGANGP(_Wasserstein):
    """WGAN-GP (paper defaults: lambda 10, Adam 1e-4 betas (0, 0.9), n_critic 5, no batch norm in the critic)."""

    def __init__(self, *, gp_weight: float = 10.0) -> None:
        check_nonnegative("wgan_gp", gp_weight=gp_weight)
        self.gp_weight = gp_weight
        self.penalties = (GradientPenalty(gp_weight),)
