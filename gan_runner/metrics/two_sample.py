"""Leave-one-out 1-nearest-neighbour two-sample test (Lopez-Paz & Oquab 2017; Xu et al. 2018).

Pool n real and n generated samples, classify each by its nearest other sample's origin: accuracy
1.0 means the sets are perfectly separable, 0.5 means indistinguishable. Memorization (fakes that
copy training points) pushes it below 0.5, collapse or artifacts push it up.
"""
from __future__ import annotations

import torch


def nn_two_sample_accuracy(real: torch.Tensor, fake: torch.Tensor) -> float:
    """1-NN leave-one-out accuracy of telling `real` (N, ...) from `fake` (N, ...) apart; 0.5 is ideal."""
    n = min(len(real), len(fake))
    x = torch.cat([real[:n].flatten(1), fake[:n].flatten(1)]).double()  # (2n, D)
    labels = torch.cat([torch.zeros(n), torch.ones(n)])
    d = torch.cdist(x, x)
    d.fill_diagonal_(float("inf"))  # leave one out
    nearest = d.argmin(dim=1)
    return float((labels[nearest] == labels).double().mean())
