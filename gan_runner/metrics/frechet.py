"""Fréchet distance between Gaussians fitted to two feature sets (FID's formula, any features)."""
from __future__ import annotations

import torch


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)) for features a (N, D) and b (M, D)."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    c_a, c_b = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    # tr (C_a C_b)^(1/2) = tr (S C_b S)^(1/2) with S = C_a^(1/2): a symmetric PSD product, so eigvalsh is stable.
    w, v = torch.linalg.eigh(c_a)
    s = (v * w.clamp(min=0).sqrt()) @ v.T
    cross = torch.linalg.eigvalsh(s @ c_b @ s).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).pow(2).sum() + c_a.trace() + c_b.trace() - 2 * cross)
