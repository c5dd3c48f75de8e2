"""k-NN manifold metrics on features: improved precision/recall and density/coverage.

Improved precision/recall (Kynkäänniemi et al. 2019, k=3): each sample's ball reaches its k-th
nearest neighbour within its own set; precision = share of generated samples inside some real
ball (fidelity), recall = share of real samples inside some generated ball (diversity).

Density/coverage (Naeem et al. 2020, k=5): only real balls, which are less fooled by generated
outliers. density = (1 / kM) sum_j #{real balls containing fake j} (about 1 when the distributions
match, above 1 when fakes crowd dense real regions; identical sets give (k+1)/k);
coverage = share of real balls holding at least one fake (about 1 - 2^-k for matching distributions).

Distances are computed in blocks of rows and columns, so 50k x 50k never needs more than a block of the
matrix, and disk-backed features are read a block at a time.
"""
from __future__ import annotations

from typing import Iterator

import torch

from gan_runner.metrics.context import EvalContext
from gan_runner.metrics.registry import register_metric

CHUNK = 1000  # query rows per distance block
COLS = 10_000  # reference rows per distance block: (1000, 10000) float64 = 80 MB, whatever N is


def _dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances (A, B) in float64."""
    return torch.cdist(a.double(), b.double())


def _blocks(query: torch.Tensor, ref: torch.Tensor) -> Iterator[tuple[int, int, torch.Tensor]]:
    """(query row start, ref row start, distance block) over all blocks: features may be disk-backed, so only
    one block of each set is read into float64 at a time."""
    for j in range(0, len(ref), COLS):
        r = ref[j : j + COLS].double()
        for i in range(0, len(query), CHUNK):
            yield i, j, _dist(query[i : i + CHUNK], r)


def knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """(N,) distance from each row of x (N, D) to its k-th nearest other row."""
    if len(x) <= k:
        raise ValueError(f"need more than k={k} samples for k-NN radii, got {len(x)}")
    best = torch.full((len(x), k + 1), float("inf"), dtype=torch.float64)  # k+1 smallest so far (self included)
    for i, _, d in _blocks(x, x):
        cand = torch.cat([best[i : i + len(d)], d], dim=1)
        best[i : i + len(d)] = cand.topk(k + 1, dim=1, largest=False).values.sort(dim=1).values
    return best[:, k]


def _ball_counts(query: torch.Tensor, centers: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """(Q,) how many balls (centers[i], radii[i]) contain each query point."""
    out = torch.zeros(len(query), dtype=torch.long)
    for i, j, d in _blocks(query, centers):
        out[i : i + len(d)] += (d <= radii[None, j : j + d.shape[1]]).sum(1)
    return out


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of fake (M, D) against real (N, D)."""
    precision = (_ball_counts(fake, real, knn_radii(real, k)) > 0).double().mean()
    recall = (_ball_counts(real, fake, knn_radii(fake, k)) > 0).double().mean()
    return float(precision), float(recall)


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020) of fake (M, D) against real (N, D)."""
    radii = knn_radii(real, k)
    density = _ball_counts(fake, real, radii).double().sum() / (k * len(fake))
    nearest_fake = torch.full((len(real),), float("inf"), dtype=torch.float64)
    for i, _, d in _blocks(real, fake):
        nearest_fake[i : i + len(d)] = torch.minimum(nearest_fake[i : i + len(d)], d.min(1).values)
    coverage = (nearest_fake <= radii).double().mean()
    return float(density), float(coverage)


@register_metric("pr", reports=("precision", "recall"), higher=("precision", "recall"), needs_features=True,
                 reads=("features",))
def improved_precision_recall(ctx: EvalContext, *, k: int = 3) -> dict[str, float]:
    """Improved precision/recall on the feature space, k=3 as in the paper."""
    p, r = precision_recall(ctx.real_features(), ctx.fake_features(), k)
    return {"precision": p, "recall": r}


@register_metric("dc", reports=("density", "coverage"), higher=("density", "coverage"), main="coverage",
                 needs_features=True, reads=("features",))
def density_and_coverage(ctx: EvalContext, *, k: int = 5) -> dict[str, float]:
    """Density/coverage on the feature space, k=5 as in the paper."""
    d, c = density_coverage(ctx.real_features(), ctx.fake_features(), k)
    return {"density": d, "coverage": c}
