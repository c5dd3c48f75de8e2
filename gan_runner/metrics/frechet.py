"""Fréchet distance between Gaussians fitted to two feature sets (FID's formula, any features)."""
from __future__ import annotations

import torch


def frechet_from_stats(mu_a: torch.Tensor, c_a: torch.Tensor, mu_b: torch.Tensor, c_b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)) for means (D,) and covariances (D, D)."""
    mu_a, mu_b, c_a, c_b = (t.double() for t in (mu_a, mu_b, c_a, c_b))
    # tr (C_a C_b)^(1/2) = tr (S C_b S)^(1/2) with S = C_a^(1/2): a symmetric PSD product, so eigvalsh is stable.
    w, v = torch.linalg.eigh(c_a)
    s = (v * w.clamp(min=0).sqrt()) @ v.T
    cross = torch.linalg.eigvalsh(s @ c_b @ s).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).pow(2).sum() + c_a.trace() + c_b.trace() - 2 * cross)


def mean_cov(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), in float64."""
    x = x.flatten(1).double()
    return x.mean(0), torch.cov(x.T).reshape(x.shape[1], -1)


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between features a (N, D) and b (M, D)."""
    return frechet_from_stats(*mean_cov(a), *mean_cov(b))
