"""Zero-centred gradient penalties (Mescheder et al. 2018): R1 on real data, R2 on generated data.

R1 = gamma/2 * E_x[ ||grad_x D(x)||^2 ]: pushes D's gradient to zero on the data, which makes the
simple GAN game locally convergent. Lazy regularization (Karras et al. 2020, StyleGAN2) applies it
every k steps scaled by k, which costs 1/k as much for the same average strength.
"""
from __future__ import annotations

import torch

from gan_runner.losses.base import full_precision, input_for_grad
from gan_runner.models.base import GANModel
from gan_runner.stats import StatsSink


class ZeroCenteredPenalty:
    """R1 (`on='real'`) or R2 (`on='fake'`) with weight gamma, applied every `every` D steps."""

    def __init__(self, gamma: float, every: int, on: str) -> None:
        assert on in ("real", "fake"), on
        self.gamma, self.every, self.on = gamma, every, on
        self.name = "r1" if on == "real" else "r2"

    def __call__(self, model: GANModel, real: torch.Tensor, y: torch.Tensor | None, fake: torch.Tensor,
                 fake_y: torch.Tensor | None, stats: StatsSink) -> torch.Tensor:
        """The penalty, scaled by `every` (lazy regularization keeps the average strength)."""
        x = input_for_grad(real.detach() if self.on == "real" else fake)
        out = model.discriminate(x, y if self.on == "real" else fake_y).adv
        (grad,) = torch.autograd.grad(full_precision(out).sum(), x, create_graph=True)
        sq = full_precision(grad).flatten(1).pow(2).sum(1).mean()  # E ||grad D(x)||^2
        stats.report(f"{self.name}/grad_sq", sq)
        return (self.gamma / 2) * self.every * sq
