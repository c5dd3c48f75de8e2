"""Unrolled GAN (Metz et al. 2016): G's step is taken against D after k more (differentiable) D updates.

G optimizes f_K(theta_G) = f(theta_G, theta_D^K), where theta_D^K comes from K steps of D's own
optimizer (here Adam, RMSProp or SGD with its current state) on the current batch, using D's whole
objective (auxiliary terms and penalties included; the G batch's G(z), with its graph, is reused for every step).
d theta_D^K / d theta_G flows through every imagined step (the phase keeps G(z)'s graph there; losses and penalties never detach),
so G's gradient has the paper's second term dL/d theta_D^K . d theta_D^K/d theta_G, which is how G anticipates D's reaction and
stops hopping between modes. Without it this would be a mere look-ahead D.
D's real parameters and optimizer state are untouched: the unrolled copies exist only for G's step.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
from torch import nn

from gan_runner.errors import ConfigError
from gan_runner.losses.base import Batch, Objective
from gan_runner.models.base import GANModel
from gan_runner.stats import DiscardStats, StatsSink

SUPPORTED = (torch.optim.Adam, torch.optim.RMSprop, torch.optim.SGD)


def check_optimizer(opt: torch.optim.Optimizer) -> None:
    """Unrolling re-implements D's optimizer step differentiably; only these are done."""
    if not isinstance(opt, SUPPORTED) or isinstance(opt, torch.optim.AdamW):
        raise ConfigError(f"stabilize.unroll needs D's optimizer to be adam, rmsprop or sgd, got {type(opt).__name__}")


def _sqrt(v: torch.Tensor) -> torch.Tensor:
    """sqrt with a finite gradient at 0 (parameters with zero gradient, e.g. idle maxout pieces, would give NaN)."""
    return v.clamp_min(1e-30).sqrt()


def _step(p: torch.Tensor, g: torch.Tensor, state: dict[str, Any], group: dict[str, Any], t: int) -> torch.Tensor:
    """One differentiable update of D parameter p (t-th unrolled step), starting from the optimizer's real state."""
    lr, wd = group["lr"], group.get("weight_decay", 0.0)
    if wd:
        g = g + wd * p
    if "betas" in group:  # Adam
        b1, b2 = group["betas"]
        step = float(state["step"]) if "step" in state else 0.0
        m = state.get("exp_avg", torch.zeros_like(p)).detach() if t == 0 else state["_m"]
        v = state.get("exp_avg_sq", torch.zeros_like(p)).detach() if t == 0 else state["_v"]
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        state["_m"], state["_v"] = m, v
        n = step + t + 1
        return p - lr * (m / (1 - b1**n)) / (_sqrt(v / (1 - b2**n)) + group["eps"])
    if "alpha" in group:  # RMSProp
        v = state.get("square_avg", torch.zeros_like(p)).detach() if t == 0 else state["_v"]
        v = group["alpha"] * v + (1 - group["alpha"]) * g * g
        state["_v"] = v
        return p - lr * g / (_sqrt(v) + group["eps"])
    mom = group.get("momentum", 0.0)  # SGD
    if mom:
        if t == 0:
            prev = state.get("momentum_buffer")
            buf = g if prev is None else mom * prev.detach() + g
        else:
            buf = mom * state["_b"] + g
        state["_b"] = buf
        g = buf
    return p - lr * g


def clip_by_total_norm(grads: list[torch.Tensor], max_norm: float) -> list[torch.Tensor]:
    """torch.nn.utils.clip_grad_norm_'s rule, differentiably: scale by min(1, max_norm / (||g|| + 1e-6))."""
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    return [g * coef for g in grads]


class _FunctionalD(nn.Module):
    """D evaluated with substituted parameters (the unrolled ones), same buffers and forward."""

    def __init__(self, D: nn.Module, params: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.inner, self.params = D, params
        self.train(D.training)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Any:
        return torch.func.functional_call(self.inner, self.params, (x, y))


@contextmanager
def unrolled_discriminator(model: GANModel, d_objective: Callable[..., torch.Tensor], opt_d: torch.optim.Optimizer,
                           batch: Batch, step: int, k: int, clip: float | None = None) -> Iterator[None]:
    """Inside the block, model.D is D after k differentiable optimizer steps on D's whole objective.

    The whole objective (adversarial terms, ACGAN/InfoGAN's auxiliary terms, WGAN-GP's and R1/R2's
    penalties where due) on `batch`, with G(latent)'s graph kept, so theta^K depends on G. Statistics of
    these imagined steps are discarded.
    """
    named = [(n, p) for n, p in model.D.named_parameters()]
    # Leaf copies: G's backward must not write gradients into D's real parameters.
    theta = [p.detach().requires_grad_(True) for _, p in named]
    where = {id(p): (opt_d.state.get(p, {}), group) for group in opt_d.param_groups for p in group["params"]}
    scratch = [dict(where[id(p)][0]) for _, p in named]  # per-parameter unroll state (never written back)
    # Copies of D's buffers: batch-norm statistics and spectral norm's power-iteration vectors move in the imagined
    # steps' forwards, and must not move D's own.
    buffers = {n: b.detach().clone() for n, b in model.D.named_buffers()}
    D = model.D
    try:
        for t in range(k):
            model.D = _FunctionalD(D, {**buffers, **{n: th for (n, _), th in zip(named, theta)}})
            d_loss = d_objective(batch, step, DiscardStats(), detach_fake=False)
            grads = torch.autograd.grad(d_loss, theta, create_graph=True)
            if clip is not None:  # D's real steps clip their gradients (optimizer.clip_grad_norm_d): so do these
                grads = clip_by_total_norm(grads, clip)
            theta = [_step(th, g, st, where[id(p)][1], t) for th, g, st, (_, p) in zip(theta, grads, scratch, named)]
        model.D = _FunctionalD(D, {**buffers, **{n: th for (n, _), th in zip(named, theta)}})
        yield
    finally:
        model.D = D


def unrolled_g_objective(g_objective: Objective, d_objective: Callable[..., torch.Tensor], model: GANModel,
                         opt_d: torch.optim.Optimizer, k: int, clip: float | None = None) -> Objective:
    """G's objective taken against D unrolled k steps ahead on the G batch (a wrapper of the G phase's objective)."""
    check_optimizer(opt_d)

    def objective(batch: Batch, step: int, stats: StatsSink) -> torch.Tensor:
        with unrolled_discriminator(model, d_objective, opt_d, batch, step, k, clip):
            return g_objective(batch, step, stats)

    return objective
