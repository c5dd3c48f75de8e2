"""Optimizers from config: algorithm, separate G/D learning rates (TTUR), options, and LR schedules."""
from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from gan_runner.errors import ConfigError
from gan_runner.optim import build_optimizers, lr_factor
from gan_runner.registry import OPTIMIZERS


def nets() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    return nn.Linear(3, 2), nn.Linear(2, 1)


def build(cfg: dict[str, Any], max_steps: int = 10):
    G, D = nets()
    return (G, D, *build_optimizers(cfg, G.parameters(), D.parameters(), max_steps))


def lrs(opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer, sched_g: Any, sched_d: Any, steps: int
        ) -> list[float]:
    """G's learning rate before each of `steps` G steps (schedulers step once per G step)."""
    out = []
    for _ in range(steps):
        out.append(opt_g.param_groups[0]["lr"])
        opt_g.step()
        opt_d.step()
        sched_g.step()
        sched_d.step()
    out.append(opt_g.param_groups[0]["lr"])
    return out


def test_registered_optimizers() -> None:
    assert OPTIMIZERS.names() == ["adam", "rmsprop", "sgd"]


def test_adam_ttur_and_betas() -> None:
    G, D, opt_g, opt_d, _, _ = build({"name": "adam", "lr_g": 1e-4, "lr_d": 4e-4, "betas": [0.0, 0.9]})
    assert isinstance(opt_g, torch.optim.Adam) and isinstance(opt_d, torch.optim.Adam)
    assert opt_g.param_groups[0]["lr"] == pytest.approx(1e-4)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(4e-4)
    assert opt_g.param_groups[0]["betas"] == pytest.approx((0.0, 0.9))
    assert opt_d.param_groups[0]["betas"] == pytest.approx((0.0, 0.9))
    # Each optimizer owns exactly its network's parameters.
    assert {id(p) for p in opt_g.param_groups[0]["params"]} == {id(p) for p in G.parameters()}
    assert {id(p) for p in opt_d.param_groups[0]["params"]} == {id(p) for p in D.parameters()}


def test_adam_default_betas_are_dcgan_setting() -> None:
    _, _, opt_g, _, _, _ = build({"name": "adam", "lr_g": 2e-4, "lr_d": 2e-4})
    assert opt_g.param_groups[0]["betas"] == pytest.approx((0.5, 0.999))


def test_rmsprop_options() -> None:
    _, _, opt_g, opt_d, _, _ = build({"name": "rmsprop", "lr_g": 5e-5, "lr_d": 1e-4, "alpha": 0.9, "momentum": 0.1})
    assert isinstance(opt_g, torch.optim.RMSprop) and isinstance(opt_d, torch.optim.RMSprop)
    assert opt_g.param_groups[0]["lr"] == pytest.approx(5e-5)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(1e-4)
    assert opt_g.param_groups[0]["alpha"] == pytest.approx(0.9)
    assert opt_d.param_groups[0]["momentum"] == pytest.approx(0.1)


def test_sgd_options() -> None:
    _, _, opt_g, opt_d, _, _ = build({"name": "sgd", "lr_g": 0.1, "lr_d": 0.05, "momentum": 0.9, "nesterov": True})
    assert isinstance(opt_g, torch.optim.SGD) and isinstance(opt_d, torch.optim.SGD)
    assert opt_g.param_groups[0]["lr"] == pytest.approx(0.1)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(0.05)
    assert opt_g.param_groups[0]["momentum"] == pytest.approx(0.9) and opt_g.param_groups[0]["nesterov"] is True


def test_sgd_default_momentum_is_gan_paper_value() -> None:
    _, _, opt_g, _, _, _ = build({"name": "sgd", "lr_g": 0.1, "lr_d": 0.1})
    assert opt_g.param_groups[0]["momentum"] == pytest.approx(0.5)


def test_int_learning_rate_accepted() -> None:
    _, _, opt_g, _, _, _ = build({"name": "sgd", "lr_g": 1, "lr_d": 1})
    assert opt_g.param_groups[0]["lr"] == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [0, 0.0, -1e-4, "1e-4", None, True])
@pytest.mark.parametrize("key", ["lr_g", "lr_d"])
def test_bad_learning_rate(key: str, bad: Any) -> None:
    cfg = {"name": "adam", "lr_g": 1e-4, "lr_d": 1e-4, key: bad}
    with pytest.raises(ConfigError, match=rf"optimizer.{key} must be a number > 0"):
        build(cfg)


def test_missing_learning_rate() -> None:
    with pytest.raises(ConfigError, match="lr_d"):
        build({"name": "adam", "lr_g": 1e-4})


def test_nan_learning_rate_is_config_error() -> None:
    with pytest.raises(ConfigError, match="lr_g"):
        build({"name": "adam", "lr_g": float("nan"), "lr_d": 1e-4})


def test_unknown_option_names_valid_ones() -> None:
    msg = r"optimizer 'adam' has no option 'beta1' \(options: betas, eps, fused, weight_decay\)"
    with pytest.raises(ConfigError, match=msg):
        build({"name": "adam", "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.5})


def test_lr_is_not_an_option_of_the_builder() -> None:
    with pytest.raises(ConfigError, match="has no option 'lr'"):
        build({"name": "adam", "lr_g": 1e-4, "lr_d": 1e-4, "lr": 1e-3})


def test_unknown_optimizer() -> None:
    with pytest.raises(ConfigError, match=r"unknown optimizer 'adamw' \(known: adam, rmsprop, sgd\)"):
        build({"name": "adamw", "lr_g": 1e-4, "lr_d": 1e-4})


@pytest.mark.parametrize("betas", [[0.5], [1.0, 0.9], [-0.1, 0.9], ["a", 0.9], 0.5])
def test_bad_betas(betas: Any) -> None:
    with pytest.raises(ConfigError, match="betas"):
        build({"name": "adam", "lr_g": 1e-4, "lr_d": 1e-4, "betas": betas})


def test_sgd_nesterov_needs_momentum() -> None:
    with pytest.raises(ConfigError, match="nesterov"):
        build({"name": "sgd", "lr_g": 0.1, "lr_d": 0.1, "momentum": 0.0, "nesterov": True})


# ---------------------------------------------------------------- schedules


def test_constant_schedule_is_default() -> None:
    _, _, opt_g, opt_d, sg, sd = build({"name": "sgd", "lr_g": 0.1, "lr_d": 0.2}, max_steps=5)
    assert lrs(opt_g, opt_d, sg, sd, 5) == pytest.approx([0.1] * 6)


def test_linear_schedule_decays_to_zero_at_max_steps() -> None:
    _, _, opt_g, opt_d, sg, sd = build({"name": "sgd", "lr_g": 0.1, "lr_d": 0.2, "schedule": "linear"}, max_steps=10)
    seen = lrs(opt_g, opt_d, sg, sd, 10)
    assert seen == pytest.approx([0.1 * (1 - t / 10) for t in range(11)])
    assert seen[-1] == pytest.approx(0.0, abs=1e-12)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)  # D follows the same schedule


def test_cosine_schedule_is_half_at_midpoint() -> None:
    _, _, opt_g, opt_d, sg, sd = build({"name": "sgd", "lr_g": 0.1, "lr_d": 0.2, "schedule": "cosine"}, max_steps=10)
    seen = lrs(opt_g, opt_d, sg, sd, 10)
    assert seen[0] == pytest.approx(0.1)
    assert seen[5] == pytest.approx(0.05)
    assert seen[10] == pytest.approx(0.0, abs=1e-12)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(seen, seen[1:]))  # monotone decay


def test_warmup_ramps_then_decays() -> None:
    cfg = {"name": "sgd", "lr_g": 0.1, "lr_d": 0.1, "schedule": "linear", "warmup_steps": 4}
    _, _, opt_g, opt_d, sg, sd = build(cfg, max_steps=8)
    seen = lrs(opt_g, opt_d, sg, sd, 8)
    assert seen == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.075, 0.05, 0.025, 0.0], abs=1e-12)


@pytest.mark.parametrize("schedule,expected", [("constant", 1.0), ("linear", 0.5), ("cosine", 0.5)])
def test_lr_factor_midpoint_after_warmup(schedule: str, expected: float) -> None:
    f = lr_factor(schedule, warmup_steps=2, max_steps=12)  # decay spans steps 2..12, midpoint 7
    assert [f(0), f(1)] == pytest.approx([0.5, 1.0])
    assert f(7) == pytest.approx(expected)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_schedule_stays_zero_past_max_steps(schedule: str) -> None:
    f = lr_factor(schedule, warmup_steps=0, max_steps=10)
    assert f(15) == pytest.approx(0.0, abs=1e-12)


def test_unknown_schedule() -> None:
    with pytest.raises(ConfigError, match=r"optimizer.schedule must be constant, linear, cosine, step or exponential, got 'steps'"):
        build({"name": "adam", "lr_g": 1e-4, "lr_d": 1e-4, "schedule": "steps"})


@pytest.mark.parametrize("bad", [-1, 1.5, "3"])
def test_bad_warmup_steps(bad: Any) -> None:
    with pytest.raises(ConfigError, match="optimizer.warmup_steps"):
        build({"name": "adam", "lr_g": 1e-4, "lr_d": 1e-4, "warmup_steps": bad})


def test_step_schedule_multiplies_by_gamma_every_step_size_steps() -> None:
    f = lr_factor("step", warmup_steps=0, max_steps=100, step_size=10, gamma=0.5)
    assert [f(0), f(9), f(10), f(19), f(20), f(35)] == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.125])
    g = lr_factor("step", warmup_steps=4, max_steps=100, step_size=10, gamma=0.1)  # decays count after warmup
    assert [g(0), g(3), g(13), g(14)] == pytest.approx([0.25, 1.0, 1.0, 0.1])


def test_exponential_schedule_multiplies_by_gamma_every_step() -> None:
    f = lr_factor("exponential", warmup_steps=0, max_steps=100, gamma=0.9)
    assert [f(0), f(1), f(2), f(10)] == pytest.approx([1, 0.9, 0.81, 0.9**10])


def test_step_and_exponential_schedules_drive_the_optimizers_lr() -> None:
    """Through build_optimizers: the schedulers apply the factors to both learning rates, as torch's StepLR would."""
    _, _, opt_g, opt_d, sched_g, sched_d = build({"name": "sgd", "lr_g": 0.1, "lr_d": 0.2, "schedule": "step",
                                                  "step_size": 2, "gamma": 0.5})
    lrs = []
    for _ in range(5):
        lrs += [opt_g.param_groups[0]["lr"], opt_d.param_groups[0]["lr"]]
        opt_g.step(), opt_d.step(), sched_g.step(), sched_d.step()
    assert lrs == pytest.approx([0.1, 0.2, 0.1, 0.2, 0.05, 0.1, 0.05, 0.1, 0.025, 0.05])


@pytest.mark.parametrize("key,bad", [("gamma", 0), ("gamma", 1.5), ("step_size", 0), ("clip_grad_norm_d", 0),
                                     ("clip_grad_norm_g", -1.0)])
def test_bad_schedule_and_clip_values(key: str, bad: Any) -> None:
    with pytest.raises(ConfigError, match=f"optimizer.{key} must be"):
        build({"name": "adam", "lr_g": 1e-4, "lr_d": 1e-4, key: bad})
