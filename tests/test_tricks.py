"""Gradient-norm clipping (G and D apart) and feature matching (Salimans et al. 2016), checked by hand."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_runner.data.base import DataSpec
from gan_runner.errors import ConfigError
from gan_runner.losses.standard import NonSaturating
from gan_runner.models.base import DOut, GANModel, Latent
from gan_runner.run import build_trainer, run
from gan_runner.stabilizers import build_stabilizers
from gan_runner.stabilizers.unrolled import clip_by_total_norm
from gan_runner.stats import StatsAccumulator
from gan_runner.training.phases import Batch, g_objective

from conftest import TINY, Recorder, tiny

POINTS = DataSpec("points", (2,), None, False)


# ------------------------------------------------------------------------------- gradient-norm clipping
@pytest.mark.parametrize("phase_index,key", [(0, "clip_grad_norm_d"), (1, "clip_grad_norm_g")])
def test_clipping_scales_the_phase_gradient_before_the_step(tmp_path, compose_cfg, one_thread, phase_index, key):
    """Plain SGD with lr 1: the step is minus the gradient the optimizer saw, whose norm must be the threshold."""
    cfg = compose_cfg(*tiny("dcgan"), "optimizer=sgd", "optimizer.momentum=0.0", "optimizer.lr_g=1.0",
                      "optimizer.lr_d=1.0", f"optimizer.{key}=0.001", "stabilize.r1=0")
    trainer = build_trainer(cfg, tmp_path)
    if phase_index == 1:  # G's phase reads the D phase's batch
        trainer.run_phase(trainer.phases[0], StatsAccumulator(), log=False)
    phase = trainer.phases[phase_index]
    before = [p.detach().clone() for p in phase.params]
    trainer.run_phase(phase, StatsAccumulator(), log=False)
    step = torch.cat([(p.detach() - b).flatten() for p, b in zip(phase.params, before)])
    grad = torch.cat([p.grad.flatten() for p in phase.params])
    torch.testing.assert_close(step, -grad)
    assert float(step.norm()) == pytest.approx(0.001, rel=1e-4)  # the raw norm is far above 0.001 at init


def test_unrolled_clipping_is_torchs_rule():
    torch.manual_seed(0)
    grads = [torch.randn(3, 4), torch.randn(5)]
    params = [torch.zeros(3, 4, requires_grad=True), torch.zeros(5, requires_grad=True)]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_norm_(params, 0.5)
    for mine, p in zip(clip_by_total_norm(grads, 0.5), params):
        torch.testing.assert_close(mine, p.grad)
    for mine, g in zip(clip_by_total_norm(grads, 1e6), grads):  # below the threshold: untouched
        torch.testing.assert_close(mine, g)


# ------------------------------------------------------------------------------- feature matching
class TwoLayerD(nn.Module):
    """D(x) = v . (W x + b): the auto feature is W x + b, the input of D's last linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(2, 3)
        self.out = nn.Linear(3, 1, bias=False)
        with torch.no_grad():
            self.hidden.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, -1.0]]))
            self.hidden.bias.copy_(torch.tensor([0.5, 0.0, -1.0]))
            self.out.weight.copy_(torch.tensor([[1.0, 1.0, 1.0]]))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        return DOut(self.out(self.hidden(x)).squeeze(1))


class Shift(nn.Module):
    """G(z) = z + c: fakes known by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Parameter(torch.tensor([1.0, -1.0]))

    def forward(self, latent: Latent) -> torch.Tensor:
        return latent.z + self.c


def test_feature_matching_adds_the_squared_distance_of_mean_features():
    model = GANModel(POINTS, Shift(), TwoLayerD(), 2)
    loss = NonSaturating()
    stab = build_stabilizers({"feature_matching": 0.5}, POINTS, 10)
    objective = stab.g_wrappers[0](g_objective(model, loss), model)
    real = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    z = torch.tensor([[0.0, 0.0], [2.0, 2.0]])
    latent = Latent(z)
    batch = Batch(real, None, latent, model.G(latent))
    stats = Recorder()
    total = objective(batch, 0, stats)
    # by hand: mean real = (2, 1), mean fake = (1, 1) + (1, -1) = (2, 0); W (m_r - m_f) = W (0, 1) = (0, 2, -1)
    assert float(stats["fm/distance"]) == pytest.approx(0 + 4 + 1)
    assert float(total.detach()) == pytest.approx(float(stats["loss/g"]) + 0.5 * 5.0)
    (with_fm,) = torch.autograd.grad(total, model.G.c)
    loss_only = g_objective(model, loss)(Batch(real, None, latent, model.G(latent)), 0, Recorder())
    (without,) = torch.autograd.grad(loss_only, model.G.c)
    # d fm / d c = -2 W^T W (m_r - m_f) = -2 W^T (0, 2, -1) = (2, -10); times the weight 0.5
    torch.testing.assert_close(with_fm - without, torch.tensor([1.0, -5.0]))


def test_feature_layer_by_name_and_unknown_names():
    model = GANModel(POINTS, Shift(), TwoLayerD(), 2)
    stab = build_stabilizers({"feature_matching": 1.0, "feature_layer": "hidden"}, POINTS, 10)
    objective = stab.g_wrappers[0](g_objective(model, NonSaturating()), model)
    real, latent = torch.tensor([[1.0, 2.0], [3.0, 0.0]]), Latent(torch.tensor([[0.0, 0.0], [2.0, 2.0]]))
    stats = Recorder()
    objective(Batch(real, None, latent, model.G(latent)), 0, stats)
    assert float(stats["fm/distance"]) == pytest.approx(5.0)  # 'hidden' is the auto layer here
    bad = build_stabilizers({"feature_matching": 1.0, "feature_layer": "hiden"}, POINTS, 10)
    with pytest.raises(ConfigError, match=r"stabilize.feature_layer 'hiden' is not a module of D \(D's modules: hidden, out"):
        bad.g_wrappers[0](g_objective(model, NonSaturating()), model)


@pytest.mark.parametrize("model", ["gan", "dcgan", "infogan"])
def test_feature_matching_trains_through_the_runner(tmp_path, compose_cfg, one_thread, model):
    metrics = run(compose_cfg(*tiny(model), "stabilize.feature_matching=1.0", "trainer.max_steps=2"), tmp_path)
    assert metrics["status"] == "completed" and metrics["final"]["fm/distance"] >= 0


def test_feature_matching_under_unrolling_and_relativistic_loss(tmp_path, compose_cfg, one_thread):
    cfg = compose_cfg(*TINY, "model=gan", "model.width=16", "model.d_width=8", "model.pieces=2", "loss=ragan",
                      "stabilize.feature_matching=0.1", "stabilize.unroll=2", "optimizer.clip_grad_norm_d=1.0",
                      "trainer.max_steps=2")
    metrics = run(cfg, tmp_path)
    assert metrics["status"] == "completed" and "fm/distance" in metrics["final"]
