"""The unrolled GAN's G gradient is the paper's (Metz et al. 2016, eq. 12), checked against finite differences.

f_K(theta_G) = f(theta_G, theta_D^K(theta_G)): its total derivative has a second term,
dL/d theta_D^K . d theta_D^K/d theta_G, through the K imagined D steps. Finite differences of f_K in float64 see
that term whatever the code does with graphs; autograd sees it only if no loss, penalty or phase detaches G(z)
inside the imagined steps. Each case also shows that a look-ahead D (imagined steps on a detached G(z), the bug
this file was written for) misses the reference by far more than the tolerance, so the check can fail.
"""
from __future__ import annotations

from typing import Callable

import pytest
import torch
from torch import nn

from gan_runner.data.base import DataSpec
from gan_runner.losses.base import AdversarialLoss
from gan_runner.losses.standard import NonSaturating
from gan_runner.losses.wasserstein import WGANGP
from gan_runner.models.base import DOut, GANModel, Latent
from gan_runner.registry import MODELS
from gan_runner.stabilizers.penalties import ZeroCenteredPenalty
from gan_runner.stabilizers.unrolled import unrolled_discriminator
from gan_runner.stats import DiscardStats
from gan_runner.training.phases import Batch, d_objective, g_objective

POINTS = DataSpec("ring8", (2,), None, False)
DIGITS = DataSpec("digits", (1, 8, 8), 3, True)
K = 3


def _mlp() -> GANModel:
    return MODELS.build("gan", POINTS, options={"z_dim": 3, "width": 8, "depth": 1, "d_width": 8, "d_depth": 1,
                                                "d_activation": "leaky_relu", "dropout": 0.0, "input_dropout": 0.0})


def _acgan() -> GANModel:
    return MODELS.build("acgan", DIGITS, options={"width": 2, "z_dim": 3, "d_norm": "layer"})


class _SmoothD(nn.Module):
    """A tanh MLP critic: the penalties' input gradients depend on x (a ReLU net's are piecewise constant)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        return DOut(self.net(x).squeeze(1))  # (B,)


def _smooth() -> GANModel:
    G = MODELS.build("gan", POINTS, options={"z_dim": 3, "width": 8, "depth": 1}).G
    return GANModel(POINTS, G, _SmoothD(), 3)


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.5, 0.999)),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.02),
    "sgd": lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.5),
}

CASES = [  # (model, loss, extra D penalties, D's optimizer)
    pytest.param(_mlp, NonSaturating, (), "adam", id="mlp-ns-adam"),
    pytest.param(_mlp, NonSaturating, (), "rmsprop", id="mlp-ns-rmsprop"),
    pytest.param(_mlp, NonSaturating, (), "sgd", id="mlp-ns-sgd-momentum"),
    pytest.param(_mlp, WGANGP, (), "adam", id="mlp-wgan_gp-adam"),
    pytest.param(_smooth, WGANGP, (), "adam", id="smooth-wgan_gp-adam"),
    pytest.param(_smooth, NonSaturating, (ZeroCenteredPenalty(1.0, 1, "fake"),), "rmsprop", id="smooth-ns-r2-rmsprop"),
    pytest.param(_acgan, NonSaturating, (ZeroCenteredPenalty(1.0, 1, "real"), ZeroCenteredPenalty(1.0, 1, "fake")),
                 "sgd", id="acgan-aux-r1-r2-sgd"),
]


def _setup(make_model: Callable[[], GANModel], loss: AdversarialLoss, penalties: tuple, opt_name: str):
    """A float64 model whose D optimizer already has state (two real D steps), a real batch and a latent batch."""
    torch.manual_seed(0)
    model = make_model().double()
    spec = model.spec
    real = (torch.rand(6, *spec.shape, dtype=torch.float64) * 2 - 1) * (1 if spec.is_image else 2)
    y = torch.tensor([0, 1, 2, 0, 1, 2]) if model.requires_labels else None
    latent = model.sample_latent(6, "cpu").map(lambda t: t.double() if t.is_floating_point() else t)
    opt = OPTIMIZERS[opt_name](model.D.parameters())
    obj = d_objective(model, loss, (*loss.penalties, *penalties))
    for _ in range(2):
        torch.manual_seed(1)
        with torch.no_grad():
            fake = model.G(latent)
        opt.zero_grad()
        obj(Batch(real, y, latent, fake), 0, DiscardStats()).backward()
        opt.step()
    model.D.zero_grad(set_to_none=True)
    model.D.requires_grad_(False)  # as the G phase has it: D's own weights get no gradient
    return model, obj, opt, real, y, latent


def _f(model: GANModel, loss: AdversarialLoss, d_obj, opt, real, y, latent: Latent) -> torch.Tensor:
    """f_K: G's objective against D after K imagined steps (fixed seeds: WGAN-GP's interpolates are random)."""
    torch.manual_seed(2)
    batch = Batch(real, y, latent, model.G(latent))
    with unrolled_discriminator(model, d_obj, opt, batch, 0, K):
        return g_objective(model, loss)(batch, 0, DiscardStats())


def _look_ahead(d_obj):
    """The wrong version: imagined D steps on a detached G(z) (no second term)."""
    return lambda batch, step, stats, detach_fake=False: d_obj(batch, step, stats, detach_fake=True)


@pytest.mark.parametrize("make_model,loss_cls,penalties,opt_name", CASES)
def test_unrolled_g_gradient_matches_finite_differences(make_model, loss_cls, penalties, opt_name):
    loss = loss_cls()
    model, d_obj, opt, real, y, latent = _setup(make_model, loss, penalties, opt_name)
    params = list(model.G.parameters())
    gen = torch.Generator().manual_seed(3)
    direction = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]

    def directional(objective) -> float:
        """d f_K / d theta_G along `direction`, by autograd."""
        model.G.zero_grad(set_to_none=True)
        _f(model, loss, objective, opt, real, y, latent).backward()
        return sum((p.grad * v).sum() for p, v in zip(params, direction)).item()

    h = 1e-6  # float64: truncation ~h^2, rounding ~1e-16/h; Adam's normalized step is too curved for 1e-3
    with torch.no_grad():
        values = []
        for sign in (1, -1):
            for p, v in zip(params, direction):
                p.add_(sign * h * v)
            with torch.enable_grad():  # the imagined steps take gradients inside
                values.append(_f(model, loss, d_obj, opt, real, y, latent).item())
            for p, v in zip(params, direction):
                p.sub_(sign * h * v)
    reference = (values[0] - values[1]) / (2 * h)

    unrolled, look_ahead = directional(d_obj), directional(_look_ahead(d_obj))
    tol = 1e-8 + 1e-6 * abs(reference)
    assert unrolled == pytest.approx(reference, abs=tol)
    assert abs(look_ahead - reference) > 100 * tol  # the second term matters here: a look-ahead D would fail above
    assert all(p.grad is None for p in model.D.parameters())  # G's step wrote nothing into D


def test_unrolled_steps_leave_d_buffers_alone():
    """Batch-norm statistics move in the imagined steps' forwards on copies, never on D's own buffers."""
    torch.manual_seed(0)
    spec = DataSpec("digits", (1, 16, 16), 3, True)
    model = MODELS.build("acgan", spec, options={"width": 2, "z_dim": 3, "d_norm": "batch"})
    loss = NonSaturating()
    opt = torch.optim.Adam(model.D.parameters(), lr=1e-2)
    before = {n: b.clone() for n, b in model.D.named_buffers()}
    assert before, "the case needs a D with buffers"
    latent = model.sample_latent(6, "cpu")
    batch = Batch(torch.rand(6, 1, 16, 16) * 2 - 1, torch.tensor([0, 1, 2, 0, 1, 2]), latent, model.G(latent))
    with unrolled_discriminator(model, d_objective(model, loss, ()), opt, batch, 0, 2):
        model.discriminate(batch.real, batch.y)
    for name, b in model.D.named_buffers():
        torch.testing.assert_close(b, before[name], rtol=0, atol=0)
