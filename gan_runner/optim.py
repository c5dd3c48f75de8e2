"""Optimizer registry: one builder per algorithm, separate G/D learning rates (TTUR), LR schedules."""
from __future__ import annotations

import math
from typing import Any, Iterable, Literal, Mapping

import torch
from torch.optim.lr_scheduler import LambdaLR

from gan_runner.config_schema import OptimizerConfig, keys_of, validate
from gan_runner.errors import ConfigError
from gan_runner.registry import OPTIMIZERS, register_optimizer

Params = Iterable[torch.nn.Parameter]
Schedule = Literal["constant", "linear", "cosine", "step", "exponential"]


@register_optimizer("adam")
def adam(params: Params, lr: float, *, betas: list[float] = (0.5, 0.999), eps: float = 1e-8,
         weight_decay: float = 0.0, fused: bool | None = None) -> torch.optim.Optimizer:
    """Adam (Radford et al.'s DCGAN setting by default: beta1 0.5)."""
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ConfigError(f"optimizer 'adam' option 'betas' must be two numbers in [0, 1), got {list(betas)}")
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, fused=fused)


@register_optimizer("rmsprop")
def rmsprop(params: Params, lr: float, *, alpha: float = 0.99, eps: float = 1e-8, momentum: float = 0.0,
            weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """RMSProp (what WGAN's paper uses: momentum-based methods made its critic unstable)."""
    return torch.optim.RMSprop(params, lr=lr, alpha=alpha, eps=eps, momentum=momentum, weight_decay=weight_decay)


@register_optimizer("sgd")
def sgd(params: Params, lr: float, *, momentum: float = 0.5, nesterov: bool = False,
        weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """SGD with momentum (the 2014 GAN paper's optimizer; its MNIST run used momentum 0.5)."""
    if nesterov and momentum <= 0:
        raise ConfigError("optimizer 'sgd' with nesterov=true needs momentum > 0")
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)


def lr_factor(schedule: Schedule, warmup_steps: int, max_steps: int, step_size: int = 1000, gamma: float = 0.5) -> Any:
    """Multiplier of the base LR at G step t: linear warmup, then constant, linear or cosine decay to 0,
    step decay (x gamma every step_size steps, as StepLR) or exponential decay (x gamma every step, as ExponentialLR)."""

    def factor(t: int) -> float:
        if warmup_steps and t < warmup_steps:
            return (t + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        if schedule == "step":
            return gamma ** ((t - warmup_steps) // step_size)
        if schedule == "exponential":
            return gamma ** (t - warmup_steps)
        frac = min(1.0, (t - warmup_steps) / max(1, max_steps - warmup_steps))
        return 1.0 - frac if schedule == "linear" else 0.5 * (1 + math.cos(math.pi * frac))

    return factor


def build_optimizers(cfg: Mapping[str, Any], g_params: Params, d_params: Params, max_steps: int
                     ) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer, LambdaLR, LambdaLR]:
    """G and D optimizers and their schedulers (stepped once per G step) from the optimizer config.

    The common keys (learning rates, schedule, clipping) are the schema's (config_schema.OptimizerConfig); gradient
    clipping is the phases' (`clip_norms`), since it happens between backward and step."""
    cfg = dict(cfg)
    common = validate("optimizer", OptimizerConfig, {k: cfg[k] for k in keys_of(OptimizerConfig) if k in cfg})
    name, lr_g, lr_d, schedule, warmup = common.name, common.lr_g, common.lr_d, common.schedule, common.warmup_steps
    options = {k: v for k, v in cfg.items() if k not in keys_of(OptimizerConfig)}  # the algorithm's own: registry-checked
    opt_g = OPTIMIZERS.build(str(name), g_params, float(lr_g), options=options)
    opt_d = OPTIMIZERS.build(str(name), d_params, float(lr_d), options=options)
    fn = lr_factor(schedule, warmup, max_steps, common.step_size, common.gamma)
    return opt_g, opt_d, LambdaLR(opt_g, fn), LambdaLR(opt_d, fn)


def clip_norms(cfg: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(G's, D's) gradient-norm clipping thresholds from the optimizer config (None: off)."""
    common = validate("optimizer", OptimizerConfig, {k: cfg[k] for k in keys_of(OptimizerConfig) if k in cfg})
    return common.clip_grad_norm_g, common.clip_grad_norm_d
