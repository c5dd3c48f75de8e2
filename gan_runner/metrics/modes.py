"""Mode metrics for the 2D mixtures (ring8, grid25), the VEEGAN / PacGAN protocol.

On 2,500 generated samples (Srivastava et al. 2017; Lin et al. 2018): a sample is *high quality*
if it lies within 3 standard deviations of its nearest mode center; each high-quality sample is
assigned to that mode. A mode is *covered* if at least `min_count` high-quality samples landed on
it; PacGAN's released code (synthetic_data_experiments/PacGAN/pacgan/extensions.py, MetricLogger:
`mode_coverage = len(numpy.nonzero(detail_of_coverage)[0])`, `dis_thre=3`) counts a mode with one
or more, so `min_count` defaults to 1. Reverse KL is KL(p_gen || uniform) between the
high-quality samples' mode histogram and the uniform weights of the true mixture (PacGAN Table 1):
0 for perfectly balanced coverage, log(K / m) when m modes are covered evenly; missing modes
contribute 0 terms (that is what makes it the *reverse* KL), and it is undefined (NaN) when no
sample is high quality.
"""
from __future__ import annotations

import math

import torch

from gan_runner.data import toy_modes
from gan_runner.errors import UserError
from gan_runner.metrics.context import EvalContext
from gan_runner.metrics.registry import register_metric

PROTOCOL_SAMPLES = 2500
TOY_DATASETS = ("ring8", "grid25")
STD_THRESHOLD = 3.0


def mode_stats(points: torch.Tensor, centers: torch.Tensor, std: float, *, threshold: float = STD_THRESHOLD,
               min_count: int = 1) -> dict[str, float]:
    """Modes covered, % high-quality samples and reverse KL of the mode histogram, for points (N, 2) and centers (K, 2)."""
    d = torch.cdist(points.double(), centers.double())  # (N, K)
    dist, nearest = d.min(dim=1)
    hq = dist < threshold * std
    k = len(centers)
    counts = torch.bincount(nearest[hq], minlength=k).double()  # (K,) high-quality samples per mode
    return {
        "modes": float((counts >= min_count).sum()),
        "modes_total": float(k),
        "hq_percent": 100.0 * float(hq.double().mean()),
        "reverse_kl": kl_to_uniform(counts),
    }


def kl_to_uniform(counts: torch.Tensor) -> float:
    """KL(p || uniform) in nats of a mode histogram (K,); empty modes add 0; NaN when the histogram is empty."""
    counts = counts.double()
    total = float(counts.sum())
    if total <= 0:
        return math.nan
    p = counts[counts > 0] / total
    return float((p * (p * len(counts)).log()).sum())


@register_metric("modes", reports=("modes", "modes_total", "hq_percent", "reverse_kl"), higher=("modes", "hq_percent"),
                 datasets=TOY_DATASETS, dataset_hint=f"a 2D mixture dataset ({', '.join(TOY_DATASETS)})", reads=("samples",))
def modes(ctx: EvalContext, *, num_samples: int = PROTOCOL_SAMPLES, min_count: int = 1) -> dict[str, float]:
    """Mode coverage of a ring8/grid25 generator on its first 2,500 samples."""
    name = ctx.real.spec.name
    try:
        centers, std = toy_modes(name, ctx.dataset_cfg)
    except UserError:
        raise UserError(f"metric 'modes' needs a 2D mixture dataset (ring8, grid25); the run's dataset is '{name}'") from None
    points = ctx.fake.x[:num_samples]
    ctx.notes["modes"] = (f"{len(points)} samples; high quality = within {STD_THRESHOLD:g} std ({std:g}) of the "
                          f"nearest of {len(centers)} modes; covered = >= {min_count} high-quality samples")
    return mode_stats(points, centers, std, min_count=min_count)
