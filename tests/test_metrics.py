"""The small measures the learning tests rely on give known answers on known inputs."""
from __future__ import annotations

import pytest
import torch

from gan_runner.metrics import frechet_distance, nn_two_sample_accuracy


def test_frechet_distance_known_values():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 3, generator=g)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # Same covariance, mean shifted by 2 in one coordinate: distance = 4.
    assert frechet_distance(a, a + torch.tensor([2.0, 0, 0])) == pytest.approx(4.0, abs=1e-6)
    # N(0, I) vs N(0, 4I) in 3 dims: 3 * (1 + 4 - 2*2) = 3.
    b = torch.randn(4000, 3, generator=g) * 2
    assert frechet_distance(a, b) == pytest.approx(3.0, rel=0.1)


def test_nn_two_sample_accuracy_extremes():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 4, generator=g), torch.randn(500, 4, generator=g)
    assert nn_two_sample_accuracy(a, b) == pytest.approx(0.5, abs=0.06)  # same distribution
    assert nn_two_sample_accuracy(a, b + 10) == 1.0  # disjoint
