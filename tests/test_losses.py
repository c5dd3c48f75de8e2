"""Each adversarial loss's formula on hand-picked logits, its statistics, and its regularizer or clipping."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import gan_runner.losses  # noqa: F401  (registers losses)
import gan_runner.models  # noqa: F401  (registers models)
from gan_runner.data.base import DataSpec
from gan_runner.errors import ConfigError
from gan_runner.losses import AdversarialLoss
from gan_runner.models import DOut, GANModel, Latent
from gan_runner.registry import LOSSES, MODELS

from conftest import d_total, g_total, with_stats

REAL = [2.0, -1.0, 0.5]  # D's logits on real samples
FAKE = [-0.5, 1.5, -3.0]  # D's logits on generated samples
DIGITS = DataSpec("digits", (1, 8, 8), 10, True)


def s(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def t(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# ---------------------------------------------------------------- a stub model with a linear critic


class LinearCritic(GANModel):
    """G(z) = z reshaped to (1, 2, 2); D(x) = w . flatten(x), so every logit and gradient is known by hand."""

    SHAPE = (1, 2, 2)

    def __init__(self, w: list[float]) -> None:
        G = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Unflatten(1, self.SHAPE))
        D = nn.Linear(4, 1, bias=False)
        with torch.no_grad():
            G[0].weight.copy_(torch.eye(4))
            D.weight.copy_(torch.tensor([w]))
        super().__init__(DataSpec("stub", self.SHAPE, None, True), _LatentToZ(G), D, z_dim=4)

    def discriminate(self, x: torch.Tensor, y: torch.Tensor | None) -> DOut:
        return DOut(self.D(x.flatten(1)).squeeze(1))  # (B,)


class _LatentToZ(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, latent: Latent) -> torch.Tensor:
        return self.net(latent.z)


def first_coordinate_batch(values: list[float]) -> torch.Tensor:
    """(B, 1, 2, 2) samples whose first pixel is `values` (other pixels vary, D with w=e1 ignores them)."""
    x = torch.randn(len(values), 1, 2, 2)
    x[:, 0, 0, 0] = torch.tensor(values)
    return x


def stub_batch() -> tuple[LinearCritic, torch.Tensor, Latent]:
    """A critic D(x) = x[0] with real logits REAL and fake logits FAKE."""
    model = LinearCritic([1.0, 0.0, 0.0, 0.0])
    real = first_coordinate_batch(REAL)
    latent = Latent(first_coordinate_batch(FAKE).flatten(1))
    return model, real, latent


# ---------------------------------------------------------------- formulas on hand-picked logits


@pytest.mark.parametrize("name", ["minimax", "ns"])
def test_bce_d_loss(name: str) -> None:
    expected = -mean([math.log(s(r)) + math.log(1 - s(f)) for r, f in zip(REAL, FAKE)])
    assert float(LOSSES.build(name).d_terms(t(REAL), t(FAKE))) == pytest.approx(expected)


def test_minimax_g_loss_is_log_one_minus_d() -> None:
    expected = mean([math.log(1 - s(f)) for f in FAKE])
    assert float(LOSSES.build("minimax").g_term(t(FAKE))) == pytest.approx(expected)


def test_ns_g_loss_is_minus_log_d() -> None:
    expected = -mean([math.log(s(f)) for f in FAKE])
    assert float(LOSSES.build("ns").g_term(t(FAKE))) == pytest.approx(expected)


def test_minimax_saturates_where_ns_does_not() -> None:
    """When D confidently rejects a fake (logit -10), minimax's G gradient vanishes; ns's stays ~1."""
    grads = {}
    for name in ("minimax", "ns"):
        f = torch.tensor([-10.0], dtype=torch.float64, requires_grad=True)
        LOSSES.build(name).g_term(f).backward()
        grads[name] = float(f.grad[0])
    assert grads["minimax"] == pytest.approx(-s(-10.0))  # d/df log(1 - s(f)) = -s(f)
    assert grads["ns"] == pytest.approx(-(1 - s(-10.0)))  # d/df -log s(f) = -(1 - s(f))
    assert abs(grads["minimax"]) < 1e-4 < 0.99 < abs(grads["ns"])


def test_lsgan_default_codes() -> None:
    loss = LOSSES.build("lsgan")  # a=0 (fake), b=1 (real), c=1 (G's target)
    expected_d = 0.5 * (mean([(r - 1) ** 2 for r in REAL]) + mean([f**2 for f in FAKE]))
    expected_g = 0.5 * mean([(f - 1) ** 2 for f in FAKE])
    assert float(loss.d_terms(t(REAL), t(FAKE))) == pytest.approx(expected_d)
    assert float(loss.g_term(t(FAKE))) == pytest.approx(expected_g)


def test_lsgan_custom_codes() -> None:
    loss = LOSSES.build("lsgan", options={"a": -1.0, "b": 1.0, "c": 0})
    expected_d = 0.5 * (mean([(r - 1) ** 2 for r in REAL]) + mean([(f + 1) ** 2 for f in FAKE]))
    expected_g = 0.5 * mean([f**2 for f in FAKE])
    assert float(loss.d_terms(t(REAL), t(FAKE))) == pytest.approx(expected_d)
    assert float(loss.g_term(t(FAKE))) == pytest.approx(expected_g)


def test_hinge() -> None:
    loss = LOSSES.build("hinge")
    # real 2.0 is past the margin (0 loss), -1.0 and 0.5 are not; fake -3.0 is past it.
    expected_d = mean([max(0.0, 1 - r) for r in REAL]) + mean([max(0.0, 1 + f) for f in FAKE])
    assert expected_d == pytest.approx((0 + 2 + 0.5) / 3 + (0.5 + 2.5 + 0) / 3)
    assert float(loss.d_terms(t(REAL), t(FAKE))) == pytest.approx(expected_d)
    assert float(loss.g_term(t(FAKE))) == pytest.approx(-mean(FAKE))


@pytest.mark.parametrize("name", ["wgan", "wgan_gp"])
def test_wasserstein_terms_and_estimate(name: str) -> None:
    loss = LOSSES.build(name)
    assert float(loss.d_terms(t(REAL), t(FAKE))) == pytest.approx(mean(FAKE) - mean(REAL))
    assert float(loss.g_term(t(FAKE))) == pytest.approx(-mean(FAKE))
    stats = with_stats(loss.report_d_values, t(REAL), t(FAKE))[1]
    assert float(stats["wasserstein"]) == pytest.approx(mean(REAL) - mean(FAKE))


# ---------------------------------------------------------------- statistics through d_objective


@pytest.mark.parametrize(
    "name,probabilistic",
    [("minimax", True), ("ns", True), ("lsgan", False), ("hinge", False), ("wgan", False), ("wgan_gp", False)],
)
def test_d_stats_are_probabilities_or_raw_values(name: str, probabilistic: bool) -> None:
    model, real, latent = stub_batch()
    loss = LOSSES.build(name)
    assert loss.probabilistic is probabilistic
    total, stats = d_total(loss, model, real, None, latent)
    if probabilistic:
        assert float(stats[loss.tag("D/real")]) == pytest.approx(mean([s(r) for r in REAL]), rel=1e-6)
        assert float(stats[loss.tag("D/fake")]) == pytest.approx(mean([s(f) for f in FAKE]), rel=1e-6)
        assert 0 < float(stats[loss.tag("D/real")]) < 1 and 0 < float(stats[loss.tag("D/fake")]) < 1
    else:
        assert float(stats[loss.tag("D/real")]) == pytest.approx(mean(REAL), rel=1e-6)
        assert float(stats[loss.tag("D/fake")]) == pytest.approx(mean(FAKE), rel=1e-6)
    assert float(stats[loss.tag("loss/d")]) == pytest.approx(float(loss.d_terms(t(REAL), t(FAKE))), rel=1e-6)
    if name != "wgan_gp":  # the penalty is checked below
        assert float(total.detach()) == pytest.approx(float(stats[loss.tag("loss/d")]))
    assert all(v.requires_grad is False for v in stats.values())  # detached: logging never holds a graph


@pytest.mark.parametrize("name", LOSSES.names())
def test_d_objective_leaves_g_alone_and_g_objective_reaches_it(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS.build("dcgan", DIGITS, options={"width": 8, "z_dim": 8, "d_norm": "layer"})
    loss: AdversarialLoss = LOSSES.build(name)
    real = torch.rand(4, *DIGITS.shape) * 2 - 1
    d_loss, _ = d_total(loss, model, real, None, model.sample_latent(4, "cpu"))
    d_loss.backward()
    assert all(p.grad is None for p in model.G.parameters())
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.D.parameters())
    model.zero_grad(set_to_none=True)
    g_loss, stats = g_total(loss, model, model.sample_latent(4, "cpu"), real=real)
    assert float(stats[loss.tag("loss/g")]) == pytest.approx(float(g_loss.detach()))
    g_loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.G.parameters())


# ---------------------------------------------------------------- WGAN: weight clipping


def test_wgan_after_d_step_clips_every_d_parameter() -> None:
    torch.manual_seed(0)
    spec = DataSpec("x", (1, 16, 16), None, True)
    model = MODELS.build("dcgan", spec, options={"width": 8, "z_dim": 8})
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.D.modules())  # norm affine params are clipped too
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p))
    d_before = [p.detach().clone() for p in model.D.parameters()]
    g_before = [p.detach().clone() for p in model.G.parameters()]
    assert max(float(p.abs().max()) for p in d_before) > 1.0
    LOSSES.build("wgan", options={"clip": 0.05}).after_d_step(model)
    for before, p in zip(d_before, model.D.parameters()):
        assert bool((p.detach().abs() <= 0.05).all())
        torch.testing.assert_close(p.detach(), before.clamp(-0.05, 0.05))  # values inside stay as they are
    for before, p in zip(g_before, model.G.parameters()):
        torch.testing.assert_close(p.detach(), before)  # G is never clipped


def test_wgan_default_clip_is_paper_value() -> None:
    assert LOSSES.build("wgan").clip == pytest.approx(0.01)


@pytest.mark.parametrize("name,option", [("wgan", "clip"), ("wgan_gp", "gp_weight")])
def test_wasserstein_options_reject_negative(name: str, option: str) -> None:
    with pytest.raises(ConfigError, match=option):
        LOSSES.build(name, options={option: -1.0})


# ---------------------------------------------------------------- WGAN-GP: gradient penalty


@pytest.mark.parametrize("w", [[0.6, 0.8, 0.0, 0.0], [0.5, -0.5, 0.5, -0.5]])
def test_gp_is_zero_for_unit_norm_linear_critic(w: list[float]) -> None:
    _, real, latent = stub_batch()
    model = LinearCritic(w)
    loss = LOSSES.build("wgan_gp")
    reg, stats = with_stats(loss.penalties[0], model, real, None, model.G(latent).detach(), None)
    assert float(reg.detach()) == pytest.approx(0.0, abs=1e-10)
    assert float(stats["gp/grad_norm"]) == pytest.approx(1.0)


@pytest.mark.parametrize("norm", [0.5, 2.0, 3.0])
def test_gp_equals_weight_times_squared_norm_gap(norm: float) -> None:
    w = [norm * 0.6, 0.0, -norm * 0.8, 0.0]  # ||w|| = norm; the critic's gradient is w everywhere
    _, real, latent = stub_batch()
    model = LinearCritic(w)
    loss = LOSSES.build("wgan_gp", options={"gp_weight": 4})
    fake = model.G(latent).detach()
    reg, stats = with_stats(loss.penalties[0], model, real, None, fake, None)
    assert float(reg.detach()) == pytest.approx(4 * (norm - 1) ** 2)
    assert float(stats["gp/penalty"]) == pytest.approx((norm - 1) ** 2)
    assert float(stats["gp/grad_norm"]) == pytest.approx(norm)
    # The penalty is differentiable in D's weights (double backprop): d/dw 4 (||w|| - 1)^2 = 8 (||w|| - 1) w / ||w||.
    reg.backward()
    expected = 8 * (norm - 1) * torch.tensor([w]) / norm
    torch.testing.assert_close(model.D.weight.grad, expected)


def test_wgan_gp_d_objective_adds_penalty() -> None:
    _, real, latent = stub_batch()
    w = [1.2, -1.6, 0.0, 0.0]  # ||w|| = 2
    model = LinearCritic(w)
    loss = LOSSES.build("wgan_gp")  # gp_weight 10
    total, stats = d_total(loss, model, real, None, latent)
    adv = (latent.z @ torch.tensor(w)).mean() - (real.flatten(1) @ torch.tensor(w)).mean()
    assert float(stats["loss/d[wgan]"]) == pytest.approx(float(adv), rel=1e-5)
    assert float(total.detach()) == pytest.approx(float(adv) + 10 * (2 - 1) ** 2, rel=1e-5)
    assert float(stats["gp/penalty"]) == pytest.approx(1.0)


# ---------------------------------------------------------------- relativistic losses (Jolicoeur-Martineau 2018)
def _sp(v: float) -> float:
    return math.log1p(math.exp(v))  # softplus: -log sigmoid(-v)


RELATIVISTIC = {  # name -> (D's loss, G's loss) by the paper's formulas, on REAL and FAKE by hand
    "rsgan": (mean([_sp(-(r - f)) for r, f in zip(REAL, FAKE)]), mean([_sp(-(f - r)) for r, f in zip(REAL, FAKE)])),
    "ragan": (mean([_sp(-(r - mean(FAKE))) for r in REAL]) + mean([_sp(f - mean(REAL)) for f in FAKE]),
              mean([_sp(-(f - mean(REAL))) for f in FAKE]) + mean([_sp(r - mean(FAKE)) for r in REAL])),
    "ralsgan": (mean([(r - mean(FAKE) - 1) ** 2 for r in REAL]) + mean([(f - mean(REAL) + 1) ** 2 for f in FAKE]),
                mean([(f - mean(REAL) - 1) ** 2 for f in FAKE]) + mean([(r - mean(FAKE) + 1) ** 2 for r in REAL])),
    "rahinge": (mean([max(0.0, 1 - (r - mean(FAKE))) for r in REAL]) + mean([max(0.0, 1 + (f - mean(REAL))) for f in FAKE]),
                mean([max(0.0, 1 - (f - mean(REAL))) for f in FAKE]) + mean([max(0.0, 1 + (r - mean(FAKE))) for r in REAL])),
}


@pytest.mark.parametrize("name", sorted(RELATIVISTIC))
def test_relativistic_formulas(name: str) -> None:
    loss = LOSSES.build(name)
    expected_d, expected_g = RELATIVISTIC[name]
    assert loss.g_uses_real and not loss.probabilistic
    assert float(loss.d_terms(t(REAL), t(FAKE))) == pytest.approx(expected_d, rel=1e-12)
    assert float(loss.g_term(t(FAKE), t(REAL))) == pytest.approx(expected_g, rel=1e-12)


@pytest.mark.parametrize("name", sorted(RELATIVISTIC))
def test_relativistic_g_objective_judges_the_real_batch(name: str) -> None:
    """G's objective through the model: D's logits on the phase's real batch enter G's term (w . x by hand)."""
    w = [0.5, -1.0, 2.0, 0.25]
    model, loss = LinearCritic(w), LOSSES.build(name)
    z = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.5, 0.0], [0.0, 0.0, 0.0, -2.0]])
    real = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 0.0, -1.0]]).view(3, *LinearCritic.SHAPE)
    value = g_total(loss, model, Latent(z), real=real)[0].detach()
    fake_logits = [sum(a * b for a, b in zip(w, row)) for row in z.tolist()]
    real_logits = [sum(a * b for a, b in zip(w, row)) for row in real.flatten(1).tolist()]
    assert float(value) == pytest.approx(float(loss.game(t(fake_logits), t(real_logits))), rel=1e-6)
    assert float(value) != pytest.approx(float(loss.game(t(fake_logits), t(fake_logits))), rel=1e-3)  # real mattered


@pytest.mark.parametrize("name,shows", [("wgan", True), ("wgan_gp", True), ("ns", False), ("hinge", False)])
def test_the_loss_names_its_progress_line_statistics(tmp_path, capsys, name: str, shows: bool) -> None:
    """The trainer and logger name no loss's statistic: the progress line shows what the loss's console_keys say."""
    from gan_runner.training.logger import RunLogger

    loss = LOSSES.build(name)
    logger = RunLogger(tmp_path, 10, 0, None, 4, quiet=False, console_keys=loss.console_keys)
    logger.scalars(1, {loss.tag("loss/d"): 0.5, loss.tag("loss/g"): 1.0, "wasserstein": 0.25}, 1)
    logger.close()
    line = capsys.readouterr().out
    assert "loss/d=0.500" in line and ("wasserstein=0.250" in line) == shows
    assert "[" not in line.split("loss/d", 1)[0][-3:]  # the family tag is the run's loss: not repeated on the console


FAMILIES = {"minimax": "", "ns": "", "lsgan": "lsgan", "hinge": "hinge", "wgan": "wgan", "wgan_gp": "wgan",
            "rsgan": "rsgan", "ragan": "ragan", "ralsgan": "ralsgan", "rahinge": "rahinge"}


@pytest.mark.parametrize("name", LOSSES.names())
def test_loss_and_d_statistics_carry_their_unit_family(name: str) -> None:
    """ns's nats and probabilities keep the plain tags; every other family tags its own, so no chart, HParams column
    or report column puts a critic value beside a probability (wgan and wgan_gp share the critic's units)."""
    model, real, latent = stub_batch()
    loss = LOSSES.build(name)
    _, stats = d_total(loss, model, real, None, latent)
    family = FAMILIES[name]
    suffix = f"[{family}]" if family else ""
    assert {f"loss/d{suffix}", f"D/real{suffix}", f"D/fake{suffix}"} <= set(stats)
    assert family or loss.probabilistic  # an untagged family must report probabilities
    if family:
        assert not {"loss/d", "D/real", "D/fake"} & set(stats)
