"""Parzen-window log-likelihood, as Goodfellow et al. 2014 (Table 1) estimated it.

Gaussian kernels of width sigma sit on generated samples (10,000 by default), in pixel space
scaled to [0, 1]; sigma is the value of logspace(-1, 0, 10) with the best mean log-likelihood on a
validation set; the reported number is the mean test log-likelihood in nats (summed over pixels),
with its standard error std / sqrt(n). For one point x and centers mu_1..M:

    log p(x) = logsumexp_j(-||x - mu_j||^2 / (2 sigma^2)) - log M - d log(sigma sqrt(2 pi))

Data, as in the paper where we can: for MNIST runs (mnist, mnist_5k) the test set is MNIST's
official 10,000-image test split (found under DATA_ROOT/MNIST/raw) and sigma is chosen on mnist_5k
(5,000 MNIST training digits, which an mnist_5k run also trained on: a small bias in sigma only);
the paper's space is 28x28, so generated images (e.g. 32x32) are resized to 28x28 (bilinear,
antialiased, as the datasets resize). Elsewhere, or without those files, validation and test are
two seeded halves of the run's own dataset, which the GAN trained on; the result says which.
Squared distances are computed once per chunk of test points (float64) and reused for all sigmas.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from gan_runner.data import build_dataset
from gan_runner.errors import UserError
from gan_runner.metrics.context import EvalContext
from gan_runner.metrics.registry import register_metric

SIGMAS = torch.logspace(-1, 0, 10, dtype=torch.float64)  # the paper code's cross-validation grid
CHUNK = 500  # test points per block: (500, 10000) float64 distances = 40 MB
MNIST_LIKE = ("mnist", "mnist_5k")
MNIST_SIZE = 28


@dataclass
class ParzenResult:
    """Mean test log-likelihood (nats), its standard error, the chosen sigma and the validation curve."""

    mean: float
    se: float
    sigma: float
    val_means: list[float]


def parzen_log_likelihood(x: torch.Tensor, centers: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """(S, N) log-density of each row of x (N, d) under the Parzen window on centers (M, d), per sigma (S,)."""
    x, centers, sigmas = x.double().flatten(1), centers.double().flatten(1), sigmas.double().reshape(-1)
    m, d = centers.shape
    c2 = centers.pow(2).sum(1)  # (M,)
    out = torch.empty(len(sigmas), len(x), dtype=torch.float64)
    for i in range(0, len(x), CHUNK):
        xb = x[i : i + CHUNK]
        d2 = (xb.pow(2).sum(1, keepdim=True) + c2[None, :] - 2 * xb @ centers.T).clamp_(min=0)  # (B, M)
        for s, sigma in enumerate(sigmas.tolist()):
            out[s, i : i + CHUNK] = torch.logsumexp(d2 / (-2 * sigma * sigma), dim=1)
    norm = math.log(m) + d * torch.log(sigmas * math.sqrt(2 * math.pi))  # (S,)
    return out - norm[:, None]


def parzen_estimate(test: torch.Tensor, val: torch.Tensor, centers: torch.Tensor,
                    sigmas: torch.Tensor = SIGMAS) -> ParzenResult:
    """Pick sigma on `val`, then the mean and standard error of the test log-likelihood (paper's protocol)."""
    val_means = parzen_log_likelihood(val, centers, sigmas).mean(1)  # (S,)
    best = int(val_means.argmax())
    ll = parzen_log_likelihood(test, centers, sigmas[best : best + 1])[0]  # (N_test,)
    se = float(ll.std(unbiased=False)) / math.sqrt(len(ll))  # numpy's std, as the paper's code
    return ParzenResult(float(ll.mean()), se, float(sigmas[best]), val_means.tolist())


def _find_mnist_root(roots: list[str]) -> str | None:
    """The first root holding MNIST's test split under MNIST/raw (plain or .gz)."""
    for root in roots:
        raw = Path(root).expanduser() / "MNIST" / "raw"
        if all(any((raw / f"{stem}{ext}").is_file() for ext in ("", ".gz"))
               for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")):
            return root
    return None


def _unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float64 in [0, 1]."""
    return x.double() / 255.0


def parzen_data(ctx: EvalContext, num_samples: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, str]:
    """(validation, test, kernel centers) flattened in [0, 1], and a note saying which data they are."""
    fake = _unit(ctx.fake.x[:num_samples])
    name = ctx.real.spec.name
    roots = [r for r in (ctx.data_root, ctx.dataset_cfg.get("root"), "data") if isinstance(r, str) and r]
    root = _find_mnist_root(roots) if name in MNIST_LIKE and ctx.real.spec.shape[0] == 1 else None
    if root is not None:
        test = build_dataset({"name": "mnist", "root": root, "split": "test", "image_size": MNIST_SIZE}).x
        val = build_dataset({"name": "mnist_5k", "image_size": MNIST_SIZE}).x
        size = fake.shape[-1]
        if size != MNIST_SIZE:
            fake = F.interpolate(fake.float(), size=(MNIST_SIZE, MNIST_SIZE), mode="bilinear",
                                 antialias=True, align_corners=False).double().clamp_(0, 1)
        note = (f"test: official MNIST test split ({len(test)}) from {Path(root) / 'MNIST' / 'raw'}; sigma chosen on "
                f"mnist_5k ({len(val)}); {len(fake)} generated samples"
                + (f" resized {size}x{size} -> 28x28" if size != MNIST_SIZE else ""))
        return _unit(val).flatten(1), _unit(test).flatten(1), fake.flatten(1), note
    perm = torch.randperm(len(ctx.real), generator=torch.Generator().manual_seed(ctx.seed))
    half = len(perm) // 2
    val, test = ctx.real.x[perm[:half]], ctx.real.x[perm[half:]]
    why = f" (no MNIST test split under {', '.join(roots)}/MNIST/raw)" if name in MNIST_LIKE else ""
    note = (f"validation/test: two halves ({len(val)}/{len(test)}) of the run's dataset '{name}', "
            f"which the GAN trained on{why}; {len(fake)} generated samples")
    return _unit(val).flatten(1), _unit(test).flatten(1), fake.flatten(1), note


@register_metric("parzen", reports=("parzen_ll", "parzen_se", "parzen_sigma"), higher=("parzen_ll",),
                 plus_minus={"parzen_ll": "parzen_se"}, needs_images=True, uses_mnist_test=True,
                 reads=("samples",))
def parzen(ctx: EvalContext, *, num_samples: int = 10_000) -> dict[str, float]:
    """Parzen-window test log-likelihood in nats, with standard error and the chosen sigma."""
    if not ctx.real.spec.is_image:
        raise UserError(f"metric 'parzen' needs images (pixels in [0, 1]); dataset '{ctx.real.spec.name}' is 2D points")
    val, test, centers, note = parzen_data(ctx, num_samples)
    if len(centers) < num_samples:
        note += f" (the paper used {num_samples}; raise --num)"
    ctx.notes["parzen"] = note
    r = parzen_estimate(test, val, centers)
    return {"parzen_ll": r.mean, "parzen_se": r.se, "parzen_sigma": r.sigma}
