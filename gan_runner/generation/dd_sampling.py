"""Discriminator-driven sampling: D's logit filters samples (rejection) or steers latents (refinement).

Both read D's logit d(x) as log p_data(x) / p_G(x), which is what the optimal D of the minimax and
non-saturating losses computes (Goodfellow et al. 2014, Prop. 1). Rejection keeps x with a probability
that grows with d(x) (Azadi et al. 2019, DRS); refinement moves z downhill on the energy
E(z) = ||z||^2 / 2 - d(G(z)) of the latent density p(z) ~ N(z; 0, I) exp(d(G(z))), whose push-forward
through G is p_G exp(d) = p_data (Che et al. 2020, DDLS; Tanaka 2019, DOT, does the same for a critic).
Only the noise z moves or is judged; labels and InfoGAN codes keep their sampled values.
D always runs in eval mode (no dropout, BN running statistics) and its weights never get gradients.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from gan_runner.errors import UserError
from gan_runner.generation.grids import sampling_mode
from gan_runner.generation.loading import LoadedRun
from gan_runner.generation.sampling import DEFAULT_BATCH, Samples, collect, device_of, equal_batch, generate, latent_to, to_host
from gan_runner.models.base import GANModel, Latent
from gan_runner.progress import ProgressFn, no_progress

EPS = 1e-6  # DRS's epsilon: keeps log(1 - exp(.)) finite for the sample that sets the max
MAX_CANDIDATES_PER_SAMPLE = 100  # below 1% acceptance the filter is useless, or D is broken


def logit_caveat(run: LoadedRun) -> str | None:
    """A warning line when the run's loss does not make D's logit a log density ratio, else None."""
    from gan_runner import losses as _losses  # noqa: F401  (registers the losses)
    from gan_runner.registry import LOSSES

    loss = str(run.config.get("loss", {}).get("name", "?"))
    # the loss class states it (AdversarialLoss.density_ratio), no list of names to keep in step
    if loss in LOSSES and getattr(LOSSES.get(loss), "density_ratio", False):
        return None
    return (f"the run's loss '{loss}' does not train D's logit to estimate log p_data/p_G (minimax and ns do), "
            "so discriminator-driven sampling only follows D's score")


def discriminator_of(run: LoadedRun) -> nn.Module:
    """The run's D, checked to give one logit per sample."""
    D = getattr(run.model, "D", None)
    if D is None:
        raise UserError("discriminator-driven sampling needs the run's discriminator; this checkpoint has none")
    pack = int(getattr(run.model, "pack", 1))
    if pack > 1:  # PacGAN: one logit per pack of samples, none per sample
        raise UserError(f"discriminator-driven sampling needs one D logit per sample; this run's D judges packs "
                        f"of {pack} samples (model.pack={pack})")
    return D


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """The module in eval mode (no dropout, BN running statistics), its train/eval flag restored after."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


# ---------------------------------------------------------------- rejection (DRS)

def check_drs(percentile: float, burn_in: int) -> None:
    """Raise a UserError for DRS options that cannot work."""
    if not 0.0 <= percentile <= 100.0:
        raise UserError(f"--drs-percentile must be in [0, 100], got {percentile:g}")
    if burn_in < 1:
        raise UserError(f"--drs-burn-in must be >= 1, got {burn_in}")


def drs_shift(logits: torch.Tensor, max_logit: torch.Tensor | float, eps: float = EPS) -> torch.Tensor:
    """DRS's F(x) before the gamma shift: d - M - log(1 - exp(d - M - eps)), the logit of exp(d - M)."""
    delta = logits.double() - max_logit
    return delta - torch.log(-torch.expm1(delta - eps))  # expm1: exact where d is close to M


def drs_acceptance(logits: torch.Tensor, max_logit: torch.Tensor | float, gamma: float, eps: float = EPS) -> torch.Tensor:
    """DRS's acceptance probability sigmoid(F(x) - gamma) for logits (B,) given the max logit M."""
    return torch.sigmoid(drs_shift(logits, max_logit, eps) - gamma)


def drs_batch(logits: torch.Tensor, max_logit: torch.Tensor | float, gamma: float,
              eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Acceptance probabilities of candidates' logits (B,) in draw order, and the new M.

    As in the paper's loop, M is raised to a candidate's logit before that candidate is judged, so
    F stays defined (d <= M); the best candidate so far is kept with probability about sigmoid(-log eps - gamma).
    """
    running = torch.maximum(logits.double().cummax(0).values, torch.as_tensor(max_logit, dtype=torch.float64))
    return drs_acceptance(logits, running, gamma, eps), running[-1]


@dataclass
class DRSReport:
    """What a DRS pass did: candidates drawn, samples kept, the final max logit M and the shift gamma."""

    candidates: int
    accepted: int
    max_logit: float
    gamma: float

    def summary(self) -> str:
        """One line for the CLI."""
        return (f"DRS: accepted {self.accepted} of {self.candidates} candidates "
                f"({100.0 * self.accepted / max(self.candidates, 1):.1f}%), max logit {self.max_logit:.3g}, "
                f"gamma {self.gamma:.3g}")


def _subset(latent: Latent, keep: torch.Tensor) -> Latent:
    return latent.map(lambda t: t[keep])


def rejection_sample(run: LoadedRun, n: int, *, ema: bool = True, seed: int = 0, batch_size: int = DEFAULT_BATCH,
                     percentile: float = 95.0, burn_in: int = 10_000, max_candidates: int | None = None,
                     progress: ProgressFn = no_progress) -> tuple[Samples, DRSReport]:
    """`n` samples kept by Discriminator Rejection Sampling (Azadi et al. 2019, Algorithm 1), with a report.

    Burn-in: D~ (the logit) of `burn_in` candidates gives the first estimate of M = max D~. Then each
    candidate x is kept with probability sigmoid(F(x) - gamma), F(x) = D~(x) - M - log(1 - exp(D~(x) - M - eps)),
    eps = 1e-6, M raised first whenever a candidate beats it. F is the logit of exp(D~ - M) =
    p_data / (M' p_G), the exact rejection-sampling ratio (which would keep almost nothing in high
    dimensions); gamma, the paper's knob for the overall acceptance, shifts it. gamma is the
    `percentile`-th percentile of F over the burn-in (Turner et al. 2019's DRS baseline takes the 95th
    percentile of F per batch; here it is fixed once, so the rule does not depend on batch makeup):
    a candidate scoring at that percentile is kept with probability 1/2, a higher percentile keeps
    fewer, better-scored samples. Drawing stops at `max_candidates` (default 100 n) with an error:
    an acceptance rate that low means D rejects almost everything.
    """
    if n < 1:
        raise UserError(f"the number of samples must be >= 1, got {n}")
    check_drs(percentile, burn_in)
    D = discriminator_of(run)
    cap = max_candidates if max_candidates is not None else MAX_CANDIDATES_PER_SAMPLE * n
    G = run.generator(ema)
    device = device_of(G)
    gen = torch.Generator().manual_seed(seed)

    def draw(b: int) -> tuple[torch.Tensor, Latent, torch.Tensor]:
        latent = run.model.sample_latent(b, "cpu", gen)
        on_device = latent_to(latent, device)
        x = G(on_device)
        logits = run.model.discriminate(x, on_device.y).adv.double().cpu()  # (b,)
        if not torch.isfinite(logits).all():
            raise UserError("D's logits are not finite (a diverged run?); DRS cannot rank the samples")
        return x, latent, logits

    parts: list[tuple[torch.Tensor, Latent]] = []
    with sampling_mode(G), eval_mode(D):
        b = equal_batch(burn_in, batch_size)
        burn = torch.cat([draw(b)[2] for _ in range(math.ceil(burn_in / b))])[:burn_in]
        max_logit = burn.max()
        gamma = float(torch.quantile(drs_shift(burn, max_logit), percentile / 100.0))
        b = equal_batch(n, batch_size)
        candidates = accepted = 0
        while accepted < n:
            if candidates >= cap:
                raise UserError(f"DRS accepted {accepted} of {n} samples in {candidates} candidates "
                                f"({100.0 * accepted / candidates:.2g}%); lower --drs-percentile (now {percentile:g})")
            x, latent, logits = draw(b)
            p, max_logit = drs_batch(logits, max_logit, gamma)
            keep = torch.rand(b, generator=gen, dtype=torch.float64) <= p
            parts.append((to_host(run, x)[keep], _subset(latent, keep)))
            candidates += b
            accepted += int(keep.sum())
            progress("drs", min(accepted, n), n)
    return collect(run, parts, n), DRSReport(candidates, accepted, float(max_logit), gamma)


# ---------------------------------------------------------------- latent refinement (DDLS / DOT)

def check_refine(steps: int, lr: float) -> None:
    """Raise a UserError for refinement options that cannot work."""
    if steps < 0:
        raise UserError(f"--refine-steps must be >= 0, got {steps}")
    if not lr > 0 or not math.isfinite(lr):
        raise UserError(f"--refine-lr must be a positive number, got {lr:g}")


@contextmanager
def frozen_batch_stats(G: nn.Module, latent: Latent) -> Iterator[nn.Module]:
    """G in eval mode, each BN layer normalizing with the batch statistics of G(latent), held fixed.

    In batch-statistics mode one sample's output depends on the whole batch, so the gradient of the
    summed logits would move every z to shift the batch mean as well. Freezing the starting batch's
    statistics makes each sample's energy depend on its own z alone, while G(latent) stays what plain
    sampling (batch statistics) draws. The run's BN buffers are restored afterwards.
    """
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None]
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.momentum) for m in bns]
    tracked = [None if m.num_batches_tracked is None else m.num_batches_tracked.clone() for m in bns]

    def record(m: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        x = args[0]
        dims = [0, *range(2, x.dim())]  # every axis but channels
        m.running_mean.copy_(x.mean(dims))
        m.running_var.copy_(x.var(dims, unbiased=False))  # the variance batch-stat BN normalizes with

    was_training = G.training
    hooks = [m.register_forward_pre_hook(record) for m in bns]
    try:
        for m in bns:
            m.momentum = 0.0  # the forward's own running-stat update must not overwrite what `record` wrote
        G.train()
        with torch.no_grad():
            G(latent)
        for h in hooks:
            h.remove()
        hooks = []
        G.eval()
        yield G
    finally:
        for h in hooks:
            h.remove()
        for m, (mean, var, momentum), count in zip(bns, saved, tracked):
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.momentum = momentum
            if count is not None:
                m.num_batches_tracked.copy_(count)
        G.train(was_training)


def refine_latent(model: GANModel, G: nn.Module, latent: Latent, *, steps: int, lr: float, langevin: bool = False,
                  gen: torch.Generator | None = None) -> Latent:
    """`latent` after `steps` of z <- z - lr * grad E(z) (+ sqrt(2 lr) noise with `langevin`), E = ||z||^2/2 - d(G(z)).

    Without noise this climbs D's logit while the prior term keeps z typical; with noise it is
    Langevin dynamics whose stationary law is p(z) ~ exp(-E(z)) (DDLS). G and D must already be in the
    mode to differentiate (see `frozen_batch_stats`, `eval_mode`); only z gets gradients.
    """
    z = latent.z.detach().clone()  # (B, z_dim)
    for _ in range(steps):
        z.requires_grad_(True)
        with torch.enable_grad():
            moved = latent._replace(z=z)
            energy = 0.5 * z.pow(2).sum() - model.discriminate(G(moved), latent.y).adv.sum()  # sum: samples independent
            (grad,) = torch.autograd.grad(energy, z)  # grads for z only: D's and G's weights get none
        with torch.no_grad():
            z = z - lr * grad
            if langevin:  # drawn on the CPU like the latents, so a seed means the same noise on any device
                z = z + math.sqrt(2.0 * lr) * torch.randn(z.shape, generator=gen).to(z.device)
    return latent._replace(z=z.detach())


def refine_sample(run: LoadedRun, n: int, *, ema: bool = True, seed: int = 0, batch_size: int = DEFAULT_BATCH,
                  steps: int = 10, lr: float = 0.01, langevin: bool = False,
                  progress: ProgressFn = no_progress) -> Samples:
    """`n` samples from latents refined on D's logit (`refine_latent`), batch by batch."""
    check_refine(steps, lr)
    D = discriminator_of(run)

    def decode(G: nn.Module, latent: Latent, gen: torch.Generator) -> tuple[torch.Tensor, Latent]:
        with frozen_batch_stats(G, latent):
            latent = refine_latent(run.model, G, latent, steps=steps, lr=lr, langevin=langevin, gen=gen)
            with torch.no_grad():
                return G(latent), latent

    with eval_mode(D):
        return generate(run, n, ema=ema, seed=seed, batch_size=batch_size, progress=progress, decode=decode, label="refining")
