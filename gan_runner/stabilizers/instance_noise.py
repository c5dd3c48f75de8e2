"""Instance noise (Sønderby et al. 2016; Arjovsky & Bottou 2017): Gaussian noise on D's inputs, annealed to 0.

Real and fake distributions with disjoint supports make D's gradient useless to G; blurring both
with the same noise makes them overlap. The noise std decays linearly so the end of training is
against the real data.
"""
from __future__ import annotations

import torch


class InstanceNoise:
    """A D-input transform: x + sigma_t * N(0, I), sigma_t = sigma * max(0, 1 - step / anneal_steps)."""

    def __init__(self, sigma: float, anneal_steps: int) -> None:
        self.sigma0, self.anneal_steps = sigma, max(1, anneal_steps)
        self.sigma = sigma

    def begin_step(self, step: int) -> None:
        """Set this iteration's noise level."""
        self.sigma = self.sigma0 * max(0.0, 1.0 - step / self.anneal_steps)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.sigma <= 0:
            return x
        return x + self.sigma * torch.randn_like(x)
