"""FID, KID and IS on features computed once per set, with torchmetrics' math.

gan-eval streams samples (streaming.py): FID reads the float64 running moments of the two sets
(`frechet_from_stats`); KID and IS read disk-backed feature/logit files subset by subset, with the same random
draws, the same order and torchmetrics' own kernel (`poly_mmd`) as torchmetrics' compute, so no set is ever
concatenated in memory. The in-memory `*_from_features` / `*_from_logits` functions (torchmetrics' metric classes
fed through `PrecomputedFeatures`, an identity with `num_features`) are the reference they are tested against.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

from gan_runner.metrics.context import EvalContext
from gan_runner.metrics.frechet import frechet_from_stats
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


def kid_from_rows(real: torch.Tensor, fake: torch.Tensor, *, subsets: int = 100, subset_size: int = 1000,
                  seed: int = 0) -> tuple[float, float]:
    """KID mean and std as `kid_from_features` computes them, gathering each subset's rows from (disk-backed) features.

    torchmetrics' KernelInceptionDistance.compute, subset for subset (the same random draws in the same order,
    its own `poly_mmd`), but without concatenating all features in memory first: only two subsets of
    `subset_size` rows are ever read at once.
    """
    from torchmetrics.image.kid import poly_mmd

    size = min(subset_size, len(real), len(fake))
    scores = []
    with torch.random.fork_rng(devices=[]):  # torchmetrics draws subsets from the global RNG: seeded, locally
        torch.manual_seed(seed)
        for _ in range(subsets):
            f_real = real[torch.randperm(len(real))[:size]].double()
            f_fake = fake[torch.randperm(len(fake))[:size]].double()
            scores.append(poly_mmd(f_real, f_fake))
    t = torch.stack(scores)
    return float(t.mean()), float(t.std(unbiased=False))


def inception_score_from_rows(logits: torch.Tensor, *, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """IS mean and std as `inception_score_from_logits` (torchmetrics' InceptionScore) computes them, split by split.

    The same shuffle and splits as torchmetrics' compute; each split's rows are read on their own, so the
    (N, K) logits (1008 columns for the FID Inception) are never all in memory as float64.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        idx = torch.randperm(len(logits))
    kl = []
    for part in idx.chunk(splits):
        lg = logits[part].double()
        prob, log_prob = lg.softmax(dim=1), lg.log_softmax(dim=1)
        mean_prob = prob.mean(dim=0, keepdim=True)
        kl.append((prob * (log_prob - mean_prob.log())).sum(dim=1).mean().exp())
    t = torch.stack(kl)
    return float(t.mean()), float(t.std()) if len(t) > 1 else float("nan")


@register_metric("fid", reports=("fid",), needs_features=True, reads=("moments",))
def fid(ctx: EvalContext) -> dict[str, float]:
    """Fréchet distance between Gaussians fitted to real and generated features (Heusel et al. 2017).

    Both Gaussians come from running float64 moments of the streamed features. With ctx.ref_stats, the real
    side is that file's (mu, sigma) instead (published statistics).
    """
    mu_f, sigma_f = ctx.fake_moments()
    if ctx.ref_stats is not None:
        mu, sigma = load_ref_stats(ctx.ref_stats, len(mu_f))
        ctx.notes["fid"] = f"against reference statistics {ctx.ref_stats}"
        return {"fid": frechet_from_stats(mu_f, sigma_f, mu, sigma)}
    return {"fid": frechet_from_stats(*ctx.real_moments(), mu_f, sigma_f)}


@register_metric("kid", reports=("kid", "kid_std"), plus_minus={"kid": "kid_std"}, needs_features=True,
                 reads=("features",))
def kid(ctx: EvalContext, *, subsets: int = 100, subset_size: int = 1000) -> dict[str, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): unbiased, so comparable across sample sizes."""
    mean, std = kid_from_rows(ctx.real_features(), ctx.fake_features(), subsets=subsets,
                              subset_size=subset_size, seed=ctx.seed)
    return {"kid": mean, "kid_std": std}


@register_metric("is", reports=("is", "is_std", "is_real"), higher=("is", "is_real"),
                 plus_minus={"is": "is_std"}, needs_images=True, needs_classifier=True, reads=("logits",))
def inception_score(ctx: EvalContext, *, splits: int = 10) -> dict[str, float]:
    """Inception Score (Salimans et al. 2016) under the feature network's classifier; `is_real` is the data's own.

    A feature space without class posteriors (the label-free net) on labeled data takes them from the dataset's
    classifier; the values are then tagged with that classifier's space and a note says so.
    """
    space, posterior = ctx.space(), ctx.posterior_space()
    if posterior is not space:
        ctx.value_tags["is"] = posterior.tag
        ctx.notes["is"] = (f"class posteriors from the dataset's classifier [{posterior.tag}]: the {space.name} "
                           "feature space has none")
    mean, std = inception_score_from_rows(ctx.fake_logits(), splits=splits, seed=ctx.seed)
    real_mean, _ = inception_score_from_rows(ctx.real_logits(), splits=splits, seed=ctx.seed)
    return {"is": mean, "is_std": std, "is_real": real_mean}
