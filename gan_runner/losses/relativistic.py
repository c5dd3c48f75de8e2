"""Relativistic losses (Jolicoeur-Martineau 2018): D estimates how much more realistic real data is than fake data.

With C the critic (D's logit), RSGAN's D judges pairs, C(x_r) - C(x_f); the relativistic *average* variants
judge each sample against the mean critic value of the other side, C(x_r) - E[C(x_f)] and C(x_f) - E[C(x_r)].
G's term is D's with the roles of real and fake swapped, so G needs D's output on the real batch too
(`g_uses_real`): that real-side term is what lets G lower D's belief that real data is real.
Formulas as the paper's equations (no 1/2 factors).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_runner.losses.base import AdversarialLoss
from gan_runner.registry import register_loss


class _Relativistic(AdversarialLoss):
    probabilistic = False  # D/real and D/fake report raw critic values: only their differences mean anything
    g_uses_real = True

    def d_terms(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return self.game(real, fake)

    def g_term(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        assert real is not None, "relativistic G terms need D's output on the real batch"
        return self.game(fake, real)  # G plays D's game with real and fake swapped

    def game(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The loss of the side that wants `a` (B,) judged more realistic than `b` (B,)."""
        raise NotImplementedError


@register_loss("rsgan")
class RSGAN(_Relativistic):
    """RSGAN: -E[log sigmoid(C(a) - C(b))] over pairs (a_i, b_i)."""

    family = "rsgan"

    def game(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.softplus(-(a - b)).mean()  # -log sigmoid(t) = softplus(-t)


@register_loss("ragan")
class RaSGAN(_Relativistic):
    """RaSGAN: -E_a[log sigmoid(C(a) - E C(b))] - E_b[log(1 - sigmoid(C(b) - E C(a)))]."""

    family = "ragan"

    def game(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.softplus(-(a - b.mean())).mean() + F.softplus(b - a.mean()).mean()  # -log(1 - sigmoid(t)) = softplus(t)


@register_loss("ralsgan")
class RaLSGAN(_Relativistic):
    """RaLSGAN: E_a[(C(a) - E C(b) - 1)^2] + E_b[(C(b) - E C(a) + 1)^2]."""

    family = "ralsgan"

    def game(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b.mean() - 1).pow(2).mean() + (b - a.mean() + 1).pow(2).mean()


@register_loss("rahinge")
class RaHinge(_Relativistic):
    """RaHingeGAN: E_a[relu(1 - (C(a) - E C(b)))] + E_b[relu(1 + (C(b) - E C(a)))]."""

    family = "rahinge"

    def game(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - (a - b.mean())).mean() + F.relu(1 + (b - a.mean())).mean()
