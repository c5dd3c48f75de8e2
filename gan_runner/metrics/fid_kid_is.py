"""FID, KID and IS through torchmetrics (its well-tested math), on features we extract once.

torchmetrics' FrechetInceptionDistance, KernelInceptionDistance and InceptionScore accept any
`nn.Module` as the feature extractor; that path needs no torch-fidelity (checked in torchmetrics
1.9's source: only an int/str `feature` requires it). We hand them `PrecomputedFeatures`, an
identity with `num_features`, and feed features (logits for IS) that `FeatureSpace.embed`
computed once per set: FID, KID, precision/recall and density/coverage then share one pass of the
feature network over 10k real + 10k generated images instead of one pass each.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

from gan_runner.metrics.context import EvalContext
from gan_runner.metrics.frechet import frechet_from_stats, mean_cov
from gan_runner.metrics.ref_stats import load_ref_stats
from gan_runner.metrics.registry import register_metric

#: torchmetrics all-gathers metric states across torch.distributed ranks on compute(); our evaluations run on
#: one rank (rank 0 during data-parallel training) with all the features local, so a sync would deadlock.
LOCAL = {"sync_on_compute": False}


class PrecomputedFeatures(nn.Module):
    """Identity 'feature extractor' for torchmetrics: its inputs already are (N, D) features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features  # torchmetrics reads this instead of probing with a dummy image

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def fid_from_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID between feature sets (N, D) and (M, D), by torchmetrics' FrechetInceptionDistance (float64)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    m = FrechetInceptionDistance(feature=PrecomputedFeatures(real.shape[1]), **LOCAL)
    m.update(real.double(), real=True)
    m.update(fake.double(), real=False)
    return float(m.compute())


def kid_from_features(real: torch.Tensor, fake: torch.Tensor, *, subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
    """KID (unbiased MMD^2, cubic polynomial kernel) mean and std over random subsets, by torchmetrics."""
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, len(real), len(fake))  # small sets (tests, digits) use all they have per subset
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*save all extracted features.*")  # 10k x 128 floats: fine
        m = KernelInceptionDistance(feature=PrecomputedFeatures(real.shape[1]), subsets=subsets, subset_size=size, **LOCAL)
    m.update(real.double(), real=True)
    m.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):  # torchmetrics draws subsets from the global RNG: seed it, locally
        torch.manual_seed(seed)
        mean, std = m.compute()
    return float(mean), float(std)


def inception_score_from_logits(logits: torch.Tensor, *, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))) mean and std over `splits` splits, by torchmetrics, from class logits (N, K)."""
    from torchmetrics.image.inception import InceptionScore

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*save all extracted features.*")
        m = InceptionScore(feature=PrecomputedFeatures(logits.shape[1]), splits=splits, **LOCAL)
    m.update(logits.double())
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():  # it shuffles before splitting
        torch.manual_seed(seed)
        warnings.filterwarnings("ignore", message=".*degrees of freedom.*")  # splits=1: no spread to report
        mean, std = m.compute()
    return float(mean), float(std)


@register_metric("fid", reports=("fid",), needs_features=True)
def fid(ctx: EvalContext) -> dict[str, float]:
    """Fréchet distance between Gaussians fitted to real and generated features (Heusel et al. 2017).

    With ctx.ref_stats, the real side is that file's (mu, sigma) instead (published statistics).
    """
    if ctx.ref_stats is not None:
        fake = ctx.fake_features()
        mu, sigma = load_ref_stats(ctx.ref_stats, fake.shape[1])
        ctx.notes["fid"] = f"against reference statistics {ctx.ref_stats}"
        return {"fid": frechet_from_stats(*mean_cov(fake), mu, sigma)}
    return {"fid": fid_from_features(ctx.real_features(), ctx.fake_features())}


@register_metric("kid", reports=("kid", "kid_std"), plus_minus={"kid": "kid_std"}, needs_features=True)
def kid(ctx: EvalContext, *, subsets: int = 100, subset_size: int = 1000) -> dict[str, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): unbiased, so comparable across sample sizes."""
    mean, std = kid_from_features(ctx.real_features(), ctx.fake_features(), subsets=subsets,
                                  subset_size=subset_size, seed=ctx.seed)
    return {"kid": mean, "kid_std": std}


@register_metric("is", reports=("is", "is_std", "is_real"), higher=("is", "is_real"),
                 plus_minus={"is": "is_std"}, needs_images=True, needs_classifier=True)
def inception_score(ctx: EvalContext, *, splits: int = 10) -> dict[str, float]:
    """Inception Score (Salimans et al. 2016) under the feature network's classifier; `is_real` is the data's own."""
    mean, std = inception_score_from_logits(ctx.fake_logits(), splits=splits, seed=ctx.seed)
    real_mean, _ = inception_score_from_logits(ctx.real_logits(), splits=splits, seed=ctx.seed)
    return {"is": mean, "is_std": std, "is_real": real_mean}
