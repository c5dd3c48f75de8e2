"""Each stabilizer does what its paper says, on inputs whose answer is known by hand."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from gan_runner.data.base import DataSpec
from gan_runner.losses.standard import NonSaturating, _d_bce
from gan_runner.models.base import DOut, GANModel, Latent, pack_samples
from gan_runner.models.blocks import MinibatchStd
from gan_runner.registry import MODELS
from gan_runner.run import run
from gan_runner.stabilizers import build_stabilizers
from gan_runner.stabilizers.diffaugment import DiffAugment, color, cutout, translation
from gan_runner.stabilizers.instance_noise import InstanceNoise
from gan_runner.stabilizers.penalties import ZeroCenteredPenalty
from gan_runner.stabilizers.unrolled import unrolled_discriminator
from gan_runner.training.phases import Batch, d_objective

from conftest import TINY, Recorder, d_total, g_total, with_stats

IMG = DataSpec("digits", (1, 16, 16), 10, True)
POINTS = DataSpec("ring8", (2,), None, False)


class LinearD(nn.Module):
    """D(x) = w . flatten(x): its input gradient is w everywhere."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.w = nn.Linear(n, 1, bias=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        return DOut(self.w(x.flatten(1)).squeeze(1))


class LinearG(nn.Module):
    """G(z) = A z, reshaped to the data's shape."""

    def __init__(self, spec: DataSpec) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, math.prod(spec.shape)), nn.Unflatten(1, spec.shape))

    def forward(self, latent: Latent) -> torch.Tensor:
        return self.net(latent.z)


def linear_model(spec: DataSpec = POINTS) -> GANModel:
    return GANModel(spec, LinearG(spec), LinearD(math.prod(spec.shape)), 4)


# ------------------------------------------------------------------------------- DiffAugment
def test_translation_moves_a_single_pixel_by_at_most_an_eighth():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0
    out = translation(x)
    assert out.shape == x.shape
    assert torch.equal(out.flatten(1).sum(1), torch.ones(64))  # the pixel survives (shift <= 2 of 16)
    pos = out.flatten(1).argmax(1)
    dy, dx = pos // 16 - 8, pos % 16 - 8
    assert dy.abs().max() == 2 and dx.abs().max() == 2  # int(16 * 0.125 + 0.5) = 2, all shifts drawn
    assert len(set(zip(dy.tolist(), dx.tolist()))) > 10


def test_cutout_zeroes_one_square_of_half_the_side():
    torch.manual_seed(0)
    out = cutout(torch.ones(32, 1, 16, 16))
    zeros = out[:, 0] == 0  # (B, H, W)
    for mask in zeros:
        rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert mask.sum() == h * w  # one filled rectangle
        assert h <= 8 and w <= 8
    inside = (zeros.flatten(1).sum(1) == 64).float().mean()  # whole 8x8 square inside: ~(9/17)^2 of centres
    assert 0.1 < inside < 0.5


def test_color_is_per_sample_and_differentiable():
    torch.manual_seed(0)
    x = torch.rand(8, 3, 8, 8, requires_grad=True)
    out = color(x)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    shift = (out - x).mean(dim=(1, 2, 3))
    assert shift.std() > 0.05  # each sample gets its own brightness


def test_diffaugment_passes_gradients_to_the_generator_and_only_while_training():
    torch.manual_seed(0)
    model = linear_model(IMG)
    model.d_transforms = (DiffAugment("color,translation,cutout"),)
    latent = model.sample_latent(8, "cpu")
    fake = model.G(latent)
    model.discriminate(fake, None).adv.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.G.parameters())
    model.D.eval()  # evaluation (and discriminator-driven sampling) sees D itself
    x = torch.randn(4, 1, 16, 16)
    torch.testing.assert_close(model.discriminate(x, None).adv, model.D(x).adv)


# --------------------------------------------------------------------------- instance noise
def test_instance_noise_anneals_linearly_to_zero():
    noise = InstanceNoise(0.2, 100)
    x = torch.zeros(10000, 2)
    noise.begin_step(0)
    assert noise(x).std().item() == pytest.approx(0.2, rel=0.03)
    noise.begin_step(50)
    assert noise(x).std().item() == pytest.approx(0.1, rel=0.03)
    noise.begin_step(150)
    assert torch.equal(noise(x), x)


# ------------------------------------------------------------------------------- R1 / R2
@pytest.mark.parametrize("on", ["real", "fake"])
def test_zero_centered_penalty_of_a_linear_d_is_gamma_half_w_squared_times_interval(on):
    torch.manual_seed(0)
    model = linear_model()
    w2 = model.D.w.weight.pow(2).sum()
    penalty = ZeroCenteredPenalty(gamma=10.0, every=4, on=on)
    value, stats = with_stats(penalty, model, torch.randn(16, 2), None, torch.randn(16, 2), None)
    torch.testing.assert_close(value, 10.0 / 2 * 4 * w2)  # lazy: scaled by the interval
    torch.testing.assert_close(stats[f"{penalty.name}/grad_sq"], w2.detach())


def test_lazy_penalty_enters_the_d_objective_only_on_due_steps():
    torch.manual_seed(0)
    model, loss = linear_model(), NonSaturating()
    penalties = (ZeroCenteredPenalty(1.0, 3, "real"),)
    real, latent = torch.randn(8, 2), model.sample_latent(8, "cpu")
    values = []
    for step in range(4):
        out, stats = d_total(loss, model, real, None, latent, step=step, penalties=penalties)
        values.append(("r1/grad_sq" in stats, out.item()))
    assert [v[0] for v in values] == [True, False, False, True]
    w2 = model.D.w.weight.pow(2).sum().item()
    assert values[0][1] - values[1][1] == pytest.approx(1.0 / 2 * 3 * w2, rel=1e-5)


# ------------------------------------------------------------------------- label smoothing
def test_one_sided_label_smoothing_targets_one_minus_s_for_reals_only():
    real, fake = torch.tensor([2.0]), torch.tensor([-1.0])
    s = 0.1
    expected = (1 - s) * math.log1p(math.exp(-2.0)) + s * math.log1p(math.exp(2.0)) + math.log1p(math.exp(-1.0))
    assert _d_bce(real, fake, s).item() == pytest.approx(expected, rel=1e-6)
    assert NonSaturating(label_smoothing=s).d_terms(real, fake).item() == pytest.approx(expected, rel=1e-6)
    assert _d_bce(real, fake).item() == pytest.approx(math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0)))


# -------------------------------------------------------------------------- minibatch std
def test_minibatch_std_appends_the_group_std_by_hand():
    x = torch.tensor([[0.0, 0.0], [2.0, 4.0], [0.0, 0.0], [2.0, 4.0]])  # group size 4: stds 1 and 2 -> mean 1.5
    out = MinibatchStd(group_size=4)(x)
    assert out.shape == (4, 3)
    torch.testing.assert_close(out[:, 2], torch.full((4,), 1.5), atol=1e-4, rtol=0)
    same = MinibatchStd()(torch.ones(8, 3, 4, 4))  # no variety -> ~0 (sqrt of the 1e-8 floor)
    assert same.shape == (8, 4, 4, 4) and same[:, 3].abs().max() < 1e-3


# ------------------------------------------------------------------------------- packing
def test_pack_puts_consecutive_samples_side_by_side():
    x = torch.arange(4 * 2 * 3 * 3, dtype=torch.float32).view(4, 2, 3, 3)
    packed = pack_samples(x, 2)
    assert packed.shape == (2, 4, 3, 3)
    torch.testing.assert_close(packed[1], torch.cat([x[2], x[3]]))


@pytest.mark.parametrize("name,spec", [("dcgan", IMG), ("gan", POINTS), ("sngan", IMG)])
def test_packed_d_judges_m_samples_at_once(name, spec):
    opts = {"width": 8, "z_dim": 8} if name != "gan" else {"width": 16, "d_width": 8, "pieces": 2}
    model = MODELS.build(name, spec, options={**opts, "pack": 4, "mbstd": True})
    x = model.G(model.sample_latent(8, "cpu"))
    assert model.discriminate(x, None).adv.shape == (2,)


# ------------------------------------------------------------------------ spectral norm
def test_spectral_norm_makes_every_d_layer_1_lipschitz_after_power_iterations():
    torch.manual_seed(0)
    model = MODELS.build("sngan", IMG, options={"width": 8, "z_dim": 8})
    x = torch.randn(4, 1, 16, 16)
    for _ in range(30):  # one power iteration per training forward
        model.discriminate(x, None)
    layers = [m for m in model.D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 2 * 2 + 1 + 1  # depth 2 at 16x16: two (3x3, 4x4/2) pairs, a 3x3 conv, the dense head
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.05)


def test_sngan_is_the_papers_standard_cnn_at_32x32():
    model = MODELS.build("sngan", DataSpec("cifar10", (3, 32, 32), 10, True), options={"width": 64})
    convs = [m for m in model.D.body if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (64, 3, 1), (64, 4, 2), (128, 3, 1), (128, 4, 2), (256, 3, 1), (256, 4, 2), (512, 3, 1)]
    assert model.D.head.in_features == 512 * 4 * 4
    assert [m.negative_slope for m in model.D.body if isinstance(m, nn.LeakyReLU)] == [0.1] * 7
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.D.modules())
    assert model.G(model.sample_latent(2, "cpu")).shape == (2, 3, 32, 32) and model.z_dim == 128


def test_dcgan_spectral_norm_option_only_touches_d():
    model = MODELS.build("dcgan", IMG, options={"width": 8, "spectral_norm": True, "d_norm": "none"})
    assert any(hasattr(m, "parametrizations") for m in model.D.modules())
    assert not any(hasattr(m, "parametrizations") for m in model.G.modules())


@pytest.mark.parametrize("name, extra", [("dcgan", {"spectral_norm": True, "d_norm": "none"}),
                                         ("acgan", {"d_norm": "none"}), ("sngan", {})])
def test_norm_free_d_learns_to_score_a_grey_image_as_fake(name, extra):
    # Without BN a bias-free conv/LeakyReLU D is positively homogeneous: D(0) = 0 whatever it learns, so
    # a G that outputs grey images is never scored as fake (SN + hinge stalled there). Biases fix that.
    torch.manual_seed(0)
    model = MODELS.build(name, IMG, options={"width": 8, "z_dim": 8, **extra})
    real = -torch.ones(16, 1, 16, 16)  # black backgrounds
    real[:, :, 4:12, 6:10] = 1.0  # a white stroke
    grey = torch.zeros_like(real)
    opt = torch.optim.Adam(model.D.parameters(), lr=1e-2, betas=(0.0, 0.9))
    for _ in range(60):
        loss = torch.relu(1 - model.discriminate(real, None).adv).mean() + torch.relu(1 + model.discriminate(grey, None).adv).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert model.discriminate(grey, None).adv.mean() < -0.5
        assert model.discriminate(real, None).adv.mean() > 0.5


# ------------------------------------------------------------------------------- unrolled
def _mlp_gan() -> GANModel:
    return MODELS.build("gan", POINTS, options={"z_dim": 4, "width": 16, "d_width": 16, "d_activation": "leaky_relu",
                                                "dropout": 0.0, "input_dropout": 0.0})


@pytest.mark.parametrize("opt_name", ["adam", "sgd", "rmsprop"])
def test_unrolled_d_equals_k_real_optimizer_steps_and_leaves_d_untouched(opt_name):
    torch.manual_seed(0)
    model, loss = _mlp_gan(), NonSaturating()
    make = {"adam": lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.5, 0.999)),
            "sgd": lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.5),
            "rmsprop": lambda p: torch.optim.RMSprop(p, lr=1e-3)}[opt_name]
    opt = make(model.D.parameters())
    real, latent = torch.randn(32, 2), model.sample_latent(32, "cpu")
    d_total(loss, model, real, None, latent)[0].backward()  # one real step: the optimizer has state
    opt.step()
    before = copy.deepcopy(model.D.state_dict())
    # Reference: k ordinary steps of a copy on the same batch and latents.
    ref_model = copy.deepcopy(model)
    ref_opt = make(ref_model.D.parameters())
    ref_opt.load_state_dict(copy.deepcopy(opt.state_dict()))  # load_state_dict may share state tensors
    for _ in range(3):
        ref_opt.zero_grad()
        fake = ref_model.G(latent).detach()
        loss.d_terms(ref_model.D(real).adv, ref_model.D(fake).adv).backward()
        ref_opt.step()
    probe = torch.randn(16, 2)
    batch = Batch(real, None, latent, model.G(latent))
    with unrolled_discriminator(model, d_objective(model, loss, ()), opt, batch, 0, 3):
        unrolled_out = model.discriminate(probe, None).adv
    torch.testing.assert_close(unrolled_out, ref_model.D(probe).adv, rtol=1e-4, atol=1e-5)
    for k, v in model.D.state_dict().items():
        torch.testing.assert_close(v, before[k])  # D itself never moved


def test_unrolled_generator_gradient_sees_d_react():
    torch.manual_seed(0)
    model, loss = _mlp_gan(), NonSaturating()
    opt = torch.optim.Adam(model.D.parameters(), lr=1e-2)
    model.D.requires_grad_(False)  # as the trainer's G step has it
    real, latent = torch.randn(32, 2), model.sample_latent(32, "cpu")

    def g_grad(k: int) -> torch.Tensor:
        model.G.zero_grad()
        if k:
            batch = Batch(real, None, latent, model.G(latent))
            with unrolled_discriminator(model, d_objective(model, loss, ()), opt, batch, 0, k):
                g_total(loss, model, latent, fake=batch.fake)[0].backward()
        else:
            g_total(loss, model, latent)[0].backward()
        return torch.cat([p.grad.flatten() for p in model.G.parameters()])

    plain, unrolled = g_grad(0), g_grad(5)
    assert not torch.allclose(plain, unrolled, rtol=1e-3)  # the surrogate differs: G anticipates D
    assert all(p.grad is None for p in model.D.parameters())  # G's step wrote nothing into D


# ------------------------------------------------------------------------------- config
def test_stabilizers_default_to_off_and_build_from_the_section():
    off = build_stabilizers(None, IMG, 100)
    assert off.d_transforms == () and off.penalties == () and off.unroll == 0
    on = build_stabilizers({"diffaugment": ["color", "cutout"], "instance_noise": 0.1, "r1": 10, "r2": 1,
                            "reg_every": 16, "unroll": 5}, IMG, 100)
    assert [type(t).__name__ for t in on.d_transforms] == ["DiffAugment", "InstanceNoise"]
    assert [(p.name, p.gamma, p.every) for p in on.penalties] == [("r1", 10.0, 16), ("r2", 1.0, 16)]
    assert on.unroll == 5 and on.d_transforms[1].anneal_steps == 100


def test_latent_is_untouched_by_d_transforms():
    model = linear_model(IMG)
    model.d_transforms = (InstanceNoise(1.0, 10),)
    lat = Latent(torch.zeros(2, 4))
    fake = model.G(lat)
    snapshot = fake.clone()
    model.discriminate(fake, None)
    torch.testing.assert_close(fake, snapshot)  # transforms return new tensors, never edit the batch in place


# ------------------------------------------------------------------------ through the runner
RUNS = [
    (["model=sngan", "loss=hinge"], "loss/d[hinge]"),
    (["model.pack=2", "model.mbstd=true", "model.spectral_norm=true", "model.d_norm=none"], "loss/d"),
    (["stabilize.diffaugment=[color,translation,cutout]", "stabilize.r1=10", "stabilize.reg_every=2"], "r1/grad_sq"),
    (["stabilize.instance_noise=0.1", "stabilize.r2=1", "stabilize.reg_every=1", "loss.label_smoothing=0.1"], "r2/grad_sq"),
    (["model=gan", "model.width=32", "model.d_width=16", "model.pieces=2", "stabilize.unroll=3"], "loss/g"),
    (["model=gan", "model.width=32", "model.d_width=16", "model.pieces=2", "stabilize.unroll=2", "optimizer=sgd"], "loss/g"),
    # n_critic > 1: G's batch is its own G(z) (with its graph) against the last D step's real batch
    (["model=gan", "model.width=32", "model.d_width=16", "model.pieces=2", "stabilize.unroll=2", "loss=wgan_gp",
      "trainer.n_critic=2"], "gp/penalty"),
]


@pytest.mark.parametrize("overrides,stat", RUNS)
def test_each_switch_trains_through_the_runner(tmp_path, compose_cfg, one_thread, overrides, stat):
    metrics = run(compose_cfg(*TINY, *overrides), tmp_path)
    assert metrics["status"] == "completed" and stat in metrics["final"]
    ckpt = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["step"] == 4


def test_lazy_r1_run_resumes_exactly(tmp_path, compose_cfg, one_thread):
    """The lazy schedule and the augmentation RNG live in the step and the RNG state: resume = uninterrupted."""
    extra = ["stabilize.diffaugment=[translation,cutout]", "stabilize.r1=5", "stabilize.reg_every=3"]
    run(compose_cfg(*TINY, *extra, "trainer.max_steps=6"), tmp_path / "full")
    run(compose_cfg(*TINY, *extra, "trainer.max_steps=2"), tmp_path / "split")
    run(compose_cfg(*TINY, *extra, "trainer.max_steps=6", "trainer.resume=auto"), tmp_path / "split")
    a = torch.load(tmp_path / "full" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "checkpoints" / "last.pt", weights_only=True)
    for key in ("G", "D"):
        for name in a[key]:
            torch.testing.assert_close(a[key][name], b[key][name], rtol=0, atol=0)


def test_unrolled_d_steps_use_d_whole_objective_aux_terms_and_penalties():
    """ACGAN's class loss and an R1 penalty enter the unrolled steps, as k real optimizer steps on D's objective."""
    torch.manual_seed(0)
    spec = DataSpec("digits", (1, 8, 8), 3, True)
    model = MODELS.build("acgan", spec, options={"width": 4, "z_dim": 4, "d_norm": "layer"})
    loss, penalties = NonSaturating(), (ZeroCenteredPenalty(1.0, 1, "real"),)
    objective = d_objective(model, loss, penalties)
    opt = torch.optim.SGD(model.D.parameters(), lr=0.1, momentum=0.5)
    real, y = torch.rand(6, 1, 8, 8) * 2 - 1, torch.tensor([0, 1, 2, 0, 1, 2])
    latent = model.sample_latent(6, "cpu")
    batch = Batch(real, y, latent, model.G(latent))
    ref_model = copy.deepcopy(model)
    ref_objective = d_objective(ref_model, loss, penalties)
    ref_opt = torch.optim.SGD(ref_model.D.parameters(), lr=0.1, momentum=0.5)
    for _ in range(2):
        ref_opt.zero_grad()
        ref_batch = Batch(real, y, latent, ref_model.G(latent).detach())
        ref_objective(ref_batch, 0, Recorder()).backward()
        ref_opt.step()
    probe = torch.rand(5, 1, 8, 8) * 2 - 1
    with unrolled_discriminator(model, objective, opt, batch, 0, 2):
        out = model.discriminate(probe, None)
    ref = ref_model.discriminate(probe, None)
    torch.testing.assert_close(out.adv, ref.adv, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.aux, ref.aux, rtol=1e-4, atol=1e-5)  # the class head moved with the aux term
    # Without the aux term and the penalty (the old d_terms-only unrolling) the head would not have moved the same way.
    plain = d_objective(model, loss, ())
    with unrolled_discriminator(model, plain, opt, batch, 0, 2):
        assert not torch.allclose(model.discriminate(probe, None).adv, ref.adv, rtol=1e-4, atol=1e-5)
