"""Every registered model builds, has the right shapes and trains one step; each variant keeps its paper's facts."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gan_runner.losses  # noqa: F401  (registers losses)
import gan_runner.models  # noqa: F401  (registers models)
from gan_runner.data.base import DataSpec
from gan_runner.errors import ConfigError
from gan_runner.models import DOut, GANModel, Latent
from gan_runner.models.blocks import Maxout
from gan_runner.registry import LOSSES, MODELS

from conftest import d_total, g_total, with_stats

DIGITS = DataSpec("digits", (1, 8, 8), 10, True)
RGB16 = DataSpec("x", (3, 16, 16), 10, True)
RING = DataSpec("ring8", (2,), None, False)
UNLABELED_RGB16 = DataSpec("x", (3, 16, 16), None, True)
B = 4

# Tiny sizes, applied only where a builder has the option (so a new model is covered unchanged).
SMALL = {"z_dim": 8, "width": 16, "d_width": 16, "pieces": 2}


def small(name: str, **extra: object) -> dict[str, object]:
    """Tiny options for model `name`, plus `extra`."""
    known = MODELS.options(name)
    return {**{k: v for k, v in SMALL.items() if k in known}, **extra}


def build(name: str, spec: DataSpec = DIGITS, **extra: object) -> GANModel:
    return MODELS.build(name, spec, options=small(name, **extra))


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: p.detach().clone() for k, p in module.named_parameters()}


def leaves(module: nn.Module) -> list[nn.Module]:
    """Leaf modules in order, without pure reshapes."""
    return [m for m in module.modules() if not list(m.children()) and not isinstance(m, (nn.Flatten, nn.Unflatten))]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def hand_ce(logits: list[list[float]], targets: list[int]) -> float:
    """Mean cross-entropy, -log softmax(l)[y], written out."""
    per = [math.log(sum(math.exp(v) for v in row)) - row[t] for row, t in zip(logits, targets)]
    return sum(per) / len(per)


# ---------------------------------------------------------------- every registered model


@pytest.mark.parametrize("spec", [DIGITS, RGB16], ids=["1x8x8", "3x16x16"])
@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_builds_with_right_shapes(name: str, spec: DataSpec) -> None:
    torch.manual_seed(0)
    model = build(name, spec)
    assert isinstance(model, GANModel)
    gen = torch.Generator().manual_seed(0)
    latent = model.sample_latent(B, "cpu", gen)
    assert isinstance(latent, Latent) and latent.z.shape[0] == B
    x = model.G(latent).detach()
    assert x.shape == (B, *spec.shape)
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0  # images live in [-1, 1]
    for batch, y in ((x, latent.y), (torch.rand(B, *spec.shape) * 2 - 1, torch.randint(0, 10, (B,)))):
        out = model.discriminate(batch, y)
        assert isinstance(out, DOut)
        assert out.adv.shape == (B,)


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_one_d_and_g_step_changes_params(name: str) -> None:
    torch.manual_seed(0)
    model = build(name)
    loss = LOSSES.build("ns")
    opt_g = torch.optim.Adam(model.G.parameters(), lr=1e-2)
    opt_d = torch.optim.Adam(model.D.parameters(), lr=1e-2)
    real, y = torch.rand(B, *DIGITS.shape) * 2 - 1, torch.randint(0, 10, (B,))
    g0, d0 = snapshot(model.G), snapshot(model.D)

    d_loss, d_stats = d_total(loss, model, real, y, model.sample_latent(B, "cpu"))
    assert d_loss.dim() == 0 and torch.isfinite(d_loss)
    assert all(torch.isfinite(v) for v in d_stats.values())
    opt_d.zero_grad()
    d_loss.backward()
    assert all(p.grad is None for p in model.G.parameters())  # D's step never reaches G
    opt_d.step()
    loss.after_d_step(model)
    d1 = snapshot(model.D)
    unchanged_d = [k for k in d0 if torch.equal(d0[k], d1[k])]
    assert not unchanged_d, f"D step left {unchanged_d} unchanged"
    assert all(torch.equal(g0[k], p) for k, p in snapshot(model.G).items())

    g_loss, g_stats = g_total(loss, model, model.sample_latent(B, "cpu"))
    assert g_loss.dim() == 0 and torch.isfinite(g_loss)
    assert all(torch.isfinite(v) for v in g_stats.values())
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    g1 = snapshot(model.G)
    unchanged_g = [k for k in g0 if torch.equal(g0[k], g1[k])]
    assert not unchanged_g, f"G step left {unchanged_g} unchanged"


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_grid_latents_render(name: str) -> None:
    torch.manual_seed(0)
    model = build(name).eval()
    grids = model.grid_latents(16, "cpu", torch.Generator().manual_seed(0))
    assert grids
    for title, (latent, nrow) in grids.items():
        assert nrow >= 1 and latent.z.shape[0] % nrow == 0, title
        with torch.no_grad():
            assert model.G(latent).shape == (latent.z.shape[0], *DIGITS.shape)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
@pytest.mark.parametrize("name", MODELS.names())
def test_label_requirement_matches_spec(name: str) -> None:
    """A model that needs labels refuses an unlabeled spec with ConfigError; others build on it."""
    needs = build(name, RGB16).requires_labels
    if needs:
        with pytest.raises(ConfigError, match="needs class labels"):
            build(name, UNLABELED_RGB16)
    else:
        model = build(name, UNLABELED_RGB16)
        assert model.G(model.sample_latent(2, "cpu")).shape == (2, 3, 16, 16)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
@pytest.mark.parametrize("name", ["cgan", "acgan"])
def test_conditional_models_require_labels(name: str) -> None:
    assert build(name).requires_labels
    with pytest.raises(ConfigError, match=rf"model '{name}' needs class labels.*'x'"):
        build(name, UNLABELED_RGB16)


# ---------------------------------------------------------------- DCGAN: the paper's stack


@pytest.fixture(scope="module")
def classic_dcgan() -> GANModel:
    torch.manual_seed(0)
    return MODELS.build("dcgan", DataSpec("mnist32", (1, 32, 32), 10, True), options={"width": 64, "z_dim": 100})


def test_dcgan_generator_is_the_classic_stack(classic_dcgan: GANModel) -> None:
    kinds = [type(m) for m in leaves(classic_dcgan.G)]
    CT, BN, R = nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU
    assert kinds == [CT, BN, R, CT, BN, R, CT, BN, R, CT, nn.Tanh]
    convs = [m for m in classic_dcgan.G.modules() if isinstance(m, CT)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(100, 256), (256, 128), (128, 64), (64, 1)]
    assert [(c.kernel_size, c.stride, c.padding) for c in convs] == [((4, 4), (1, 1), (0, 0))] + [
        ((4, 4), (2, 2), (1, 1))
    ] * 3
    assert [m.num_features for m in classic_dcgan.G.modules() if isinstance(m, BN)] == [256, 128, 64]


def test_dcgan_discriminator_is_the_classic_stack(classic_dcgan: GANModel) -> None:
    D = classic_dcgan.D
    kinds = [type(m) for m in leaves(D)]
    C, BN, LR = nn.Conv2d, nn.BatchNorm2d, nn.LeakyReLU
    assert kinds == [C, LR, C, BN, LR, C, BN, LR, nn.Linear]  # no BN after the first conv
    convs = [m for m in D.modules() if isinstance(m, C)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 64), (64, 128), (128, 256)]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    assert all(m.negative_slope == pytest.approx(0.2) for m in D.modules() if isinstance(m, LR))
    final = leaves(D)[-1]
    assert final.in_features == 256 * 4 * 4 and final.out_features == 1
    with torch.no_grad():
        assert D.body(torch.zeros(2, 1, 32, 32)).shape == (2, 256 * 4 * 4)


def test_dcgan_has_no_pooling(classic_dcgan: GANModel) -> None:
    pools = [m for m in classic_dcgan.modules() if type(m).__module__ == "torch.nn.modules.pooling"]
    assert pools == []


def test_dcgan_parameter_counts(classic_dcgan: GANModel) -> None:
    k = 4 * 4  # every conv is 4x4, without bias (BN follows or Tanh ends)
    bn = lambda c: 2 * c  # noqa: E731  (scale + shift)
    g = 100 * 256 * k + bn(256) + 256 * 128 * k + bn(128) + 128 * 64 * k + bn(64) + 64 * 1 * k
    d = 1 * 64 * k + 64 * 128 * k + bn(128) + 128 * 256 * k + bn(256) + 256 * 4 * 4  # last layer bias-free, as the paper's conv
    assert n_params(classic_dcgan.G) == g == 1_066_880
    assert n_params(classic_dcgan.D) == d == 661_248


def test_dcgan_rejects_image_size_not_4_times_power_of_2() -> None:
    with pytest.raises(ConfigError, match=r"4\*2\^k.*28"):
        MODELS.build("dcgan", DataSpec("mnist", (1, 28, 28), 10, True), options=small("dcgan"))


@pytest.mark.parametrize("name", ["dcgan", "acgan"])
def test_conv_models_reject_2d_data(name: str) -> None:
    with pytest.raises(ConfigError, match="needs image data"):
        MODELS.build(name, DataSpec("ring8", (2,), 10, False), options=small(name))


def test_dcgan_rejects_zero_d_width() -> None:
    with pytest.raises(ConfigError, match="d_width"):
        build("dcgan", d_width=0)


# ---------------------------------------------------------------- GAN (Goodfellow et al. 2014)


def test_gan_discriminator_defaults_are_maxout_5_pieces_with_dropout() -> None:
    model = MODELS.build("gan", DIGITS)  # paper defaults
    maxouts = [m for m in model.D.modules() if isinstance(m, Maxout)]
    assert len(maxouts) == 2
    assert all(m.pieces == 5 and m.units == 240 for m in maxouts)
    dropouts = sorted(m.p for m in model.D.modules() if isinstance(m, nn.Dropout))
    assert dropouts == pytest.approx([0.2, 0.5, 0.5])  # input 0.2, each hidden layer 0.5
    x = torch.rand(8, *DIGITS.shape)
    model.D.train()
    assert not torch.equal(model.D(x).adv, model.D(x).adv)  # dropout active while training
    model.D.eval()
    torch.testing.assert_close(model.D(x).adv, model.D(x).adv)


def test_maxout_takes_max_over_pieces() -> None:
    m = Maxout(1, units=2, pieces=3)
    with torch.no_grad():
        m.linear.weight.copy_(torch.tensor([[1.0], [-1.0], [2.0], [0.5], [0.0], [-3.0]]))
        m.linear.bias.zero_()
    out = m(torch.tensor([[2.0], [-1.0]]))
    # unit 0 pieces: x, -x, 2x; unit 1 pieces: 0.5x, 0, -3x
    torch.testing.assert_close(out, torch.tensor([[4.0, 1.0], [1.0, 3.0]]))


def _push_output_bias(model: GANModel, value: float) -> None:
    last = [m for m in model.G.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.bias.fill_(value)


def test_gan_generator_is_tanh_for_images_and_linear_for_2d() -> None:
    img = build("gan", DIGITS)
    ring = build("gan", RING)
    _push_output_bias(img, 10.0)
    _push_output_bias(ring, 10.0)
    with torch.no_grad():
        x_img = img.G(img.sample_latent(B, "cpu"))
        x_ring = ring.G(ring.sample_latent(B, "cpu"))
    assert x_ring.shape == (B, 2)
    assert float(x_img.max()) <= 1.0 and float(x_img.min()) > 0.99  # squashed by Tanh
    assert float(x_ring.min()) > 5.0  # unbounded: 2D mixtures span e.g. [-4, 4]


def test_gan_rejects_dropout_above_one() -> None:
    with pytest.raises(ConfigError, match="dropout"):
        build("gan", dropout=1.5)


# ---------------------------------------------------------------- CGAN (Mirza & Osindero 2014)


def test_cgan_label_changes_g_and_d_outputs() -> None:
    torch.manual_seed(0)
    model = build("cgan").eval()  # eval: D's dropout off, so only the label differs
    z = torch.randn(B, 8)
    y0, y1 = torch.zeros(B, dtype=torch.long), torch.full((B,), 7)
    with torch.no_grad():
        x0, x1 = model.G(Latent(z, y0)), model.G(Latent(z, y1))
        assert not torch.allclose(x0, x1)
        torch.testing.assert_close(model.G(Latent(z, y0)), x0)  # and nothing else does
        d0, d1 = model.discriminate(x0, y0).adv, model.discriminate(x0, y1).adv
        assert not torch.allclose(d0, d1)


def test_cgan_grid_puts_class_k_in_row_k() -> None:
    model = build("cgan")
    grids = model.grid_latents(20, "cpu", torch.Generator().manual_seed(0))
    latent, cols = grids["per_class"]
    assert cols == 2 and latent.z.shape[0] == 10 * cols
    assert latent.y is not None
    assert torch.equal(latent.y.view(10, cols), torch.arange(10).unsqueeze(1).expand(10, cols))
    z = latent.z.view(10, cols, -1)
    torch.testing.assert_close(z, z[:1].expand_as(z))  # same z per column: rows differ only by class


def test_grid_rows_are_labelled_by_class_or_code_in_the_picture() -> None:
    """The picture itself names each row (y=k for CGAN/ACGAN, c=k for InfoGAN's first code); others get no margin."""
    from gan_runner.generation.grids import image_grid, label_rows, row_labels

    latent, cols = build("cgan").grid_latents(20, "cpu", torch.Generator().manual_seed(0))["per_class"]
    assert row_labels(latent, cols) == [f"y={k}" for k in range(10)]
    info = build_info()
    grids = info.grid_latents(20, "cpu", torch.Generator().manual_seed(0))
    assert row_labels(*grids["categorical"]) == [f"c={k}" for k in range(10)]
    assert row_labels(*grids["continuous_0"]) == [f"c={k}" for k in range(10)]
    plain, side = build("dcgan").grid_latents(16, "cpu", torch.Generator())["samples"]
    assert row_labels(plain, side) is None
    shuffled = latent._replace(y=latent.y.flip(0).roll(1))  # rows no longer one class each
    assert row_labels(shuffled, cols) is None
    grid = image_grid(torch.zeros(20, 1, 8, 8), cols)
    labelled = label_rows(grid, row_labels(latent, cols))
    margin = labelled.shape[2] - grid.shape[2]
    assert margin > 0 and labelled.shape[1] == grid.shape[1]
    assert torch.equal(labelled[:, :, margin:], grid)  # the images untouched, right of the margin
    text = labelled[0, :, :margin] < 128
    assert text[: grid.shape[1] // 2].any() and text[grid.shape[1] // 2:].any()  # labels down the whole height
    assert torch.equal(label_rows(grid, None), grid)


@pytest.mark.parametrize("name", ["cgan", "acgan"])
def test_class_grid_stays_small_with_many_classes(name: str) -> None:
    # Stacked MNIST has 1,000 classes: a row per class would be a 1,000-image picture every grid_every.
    model = build(name, DataSpec("stacked", (3, 8, 8), 1000, True))
    latent, cols = model.grid_latents(64, "cpu", torch.Generator().manual_seed(0))["per_class"]
    assert cols == 8 and latent.z.shape[0] == 64 and latent.y is not None
    rows = latent.y.view(8, cols)
    assert torch.equal(rows[:, 0], torch.tensor([0, 143, 285, 428, 571, 714, 856, 999]))
    assert torch.equal(rows, rows[:, :1].expand_as(rows))  # still one class per row


def test_cgan_sample_latent_labels_in_range() -> None:
    latent = build("cgan").sample_latent(500, "cpu", torch.Generator().manual_seed(0))
    assert latent.y is not None and latent.y.shape == (500,)
    assert set(latent.y.tolist()) == set(range(10))


# ---------------------------------------------------------------- ACGAN (Odena et al. 2017)


ACGAN_SPEC = DataSpec("three", (1, 8, 8), 3, True)


def test_acgan_aux_head_has_class_logits() -> None:
    model = build("acgan", RGB16)
    out = model.discriminate(torch.rand(B, 3, 16, 16), None)
    assert out.aux is not None and out.aux.shape == (B, 10)


def test_acgan_aux_losses_are_weighted_cross_entropies() -> None:
    model = build("acgan", ACGAN_SPEC, aux_weight=0.5)
    real_logits, y_real = [[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], [0, 1]
    fake_logits, y_fake = [[-1.0, 4.0, 0.0], [1.0, 2.0, 3.0]], [1, 0]
    real = DOut(torch.zeros(2), torch.tensor(real_logits))
    fake = DOut(torch.zeros(2), torch.tensor(fake_logits))
    latent = Latent(torch.zeros(2, 8), torch.tensor(y_fake))
    d_aux, d_stats = with_stats(model.d_aux_loss, real, torch.tensor(y_real), fake, latent)
    assert float(d_aux) == pytest.approx(0.5 * (hand_ce(real_logits, y_real) + hand_ce(fake_logits, y_fake)))
    assert float(d_stats["aux/class_ce_real"]) == pytest.approx(hand_ce(real_logits, y_real))
    assert float(d_stats["aux/class_acc_real"]) == pytest.approx(0.5)  # row 0 right, row 1 wrong
    g_aux, g_stats = with_stats(model.g_aux_loss, fake, latent)
    assert float(g_aux) == pytest.approx(0.5 * hand_ce(fake_logits, y_fake))
    assert float(g_stats["aux/class_acc_fake"]) == pytest.approx(0.5)


def test_acgan_d_objective_adds_aux_to_adversarial_loss() -> None:
    torch.manual_seed(0)
    model = build("acgan", ACGAN_SPEC).eval()  # eval: both passes see identical networks
    real, y = torch.rand(B, 1, 8, 8) * 2 - 1, torch.tensor([0, 1, 2, 0])
    latent = model.sample_latent(B, "cpu")
    loss, stats = d_total(LOSSES.build("ns"), model, real, y, latent)
    with torch.no_grad():
        out_real, out_fake = model.discriminate(real, y), model.discriminate(model.G(latent), latent.y)
    expected_aux = F.cross_entropy(out_real.aux, y) + F.cross_entropy(out_fake.aux, latent.y)
    assert float(loss.detach() - stats["loss/d"]) == pytest.approx(float(expected_aux), rel=1e-5)


def test_acgan_grid_puts_class_k_in_row_k() -> None:
    latent, cols = build("acgan", ACGAN_SPEC).grid_latents(9, "cpu", torch.Generator().manual_seed(0))["per_class"]
    assert cols == 3 and latent.y is not None
    assert torch.equal(latent.y, torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2]))


# ---------------------------------------------------------------- InfoGAN (Chen et al. 2016)


def build_info(**extra: object) -> GANModel:
    return MODELS.build("infogan", DIGITS, options={"z_dim": 8, "width": 8, **extra})


def test_infogan_q_head_shares_d_body() -> None:
    torch.manual_seed(0)
    model = build_info()
    latent = model.sample_latent(B, "cpu")
    out = model.discriminate(torch.rand(B, 1, 8, 8), None)
    assert out.aux is not None and out.aux.shape == (B, 10 + 2)
    aux_loss = model.info_loss(out, latent)
    aux_loss.backward()
    body_grads = [p.grad for p in model.D.body.parameters()]
    assert all(g is not None and bool(g.abs().sum() > 0) for g in body_grads)  # Q's loss trains the body
    assert all(p.grad is None for p in model.D.adv.parameters())  # ... and not the adversarial head
    model.zero_grad(set_to_none=True)
    model.discriminate(torch.rand(B, 1, 8, 8), None).adv.sum().backward()
    assert all(p.grad is not None for p in model.D.body.parameters())  # the same body feeds D's logit
    assert all(p.grad is None for p in model.D.q.parameters())


def test_infogan_sample_latent_codes_in_range() -> None:
    model = build_info(n_cat=2, cat_dim=4, n_cont=3)
    latent = model.sample_latent(2000, "cpu", torch.Generator().manual_seed(0))
    assert latent.c_cat is not None and latent.c_cont is not None
    assert latent.c_cat.shape == (2000, 2) and latent.c_cat.dtype == torch.long
    assert set(latent.c_cat.flatten().tolist()) == {0, 1, 2, 3}
    assert latent.c_cont.shape == (2000, 3)
    assert float(latent.c_cont.min()) >= -1.0 and float(latent.c_cont.max()) <= 1.0
    assert float(latent.c_cont.min()) < -0.95 and float(latent.c_cont.max()) > 0.95  # uniform over [-1, 1]


def test_infogan_info_loss_matches_hand_computation() -> None:
    model = build_info(n_cat=2, cat_dim=3, n_cont=2, info_weight=0.7, cont_weight=0.1)
    aux = [
        [1.0, 0.0, -1.0, 0.2, 0.3, 2.0, 0.5, -0.5],
        [0.0, 3.0, 1.0, -1.0, 0.0, 1.0, 0.0, 0.9],
    ]
    c_cat = [[0, 2], [1, 0]]
    c_cont = [[0.1, -0.2], [-1.0, 0.4]]
    latent = Latent(torch.zeros(2, 8), None, torch.tensor(c_cat), torch.tensor(c_cont))
    loss, stats = with_stats(model.info_loss, DOut(torch.zeros(2), torch.tensor(aux)), latent)
    ce = [hand_ce([row[3 * j : 3 * j + 3] for row in aux], [c[j] for c in c_cat]) for j in range(2)]
    sq = [sum((aux[b][6 + j] - c_cont[b][j]) ** 2 for b in range(2)) / 2 for j in range(2)]
    # -log Q: cross-entropy per categorical code, 0.5 * squared error per unit-variance Gaussian code; summed.
    expected = 0.7 * (ce[0] + ce[1] + 0.1 * 0.5 * (sq[0] + sq[1]))
    assert float(loss) == pytest.approx(expected)
    assert float(stats["info/cat_ce"]) == pytest.approx((ce[0] + ce[1]) / 2)
    d_aux, _ = with_stats(model.d_aux_loss, DOut(torch.zeros(2)), None, DOut(torch.zeros(2), torch.tensor(aux)), latent)
    g_aux, _ = with_stats(model.g_aux_loss, DOut(torch.zeros(2), torch.tensor(aux)), latent)
    assert float(d_aux) == pytest.approx(expected) and float(g_aux) == pytest.approx(expected)


def test_infogan_generator_uses_codes() -> None:
    torch.manual_seed(0)
    model = build_info(n_cat=1, cat_dim=3, n_cont=1).eval()
    z = torch.randn(2, 8)
    base = Latent(z, None, torch.tensor([[0], [0]]), torch.zeros(2, 1))
    with torch.no_grad():
        x = model.G(base)
        assert not torch.allclose(x, model.G(Latent(z, None, torch.tensor([[2], [2]]), torch.zeros(2, 1))))
        assert not torch.allclose(x, model.G(Latent(z, None, torch.tensor([[0], [0]]), torch.ones(2, 1))))


def test_latent_replace_keeps_namedtuple_api() -> None:
    latent = Latent(torch.zeros(2, 8), torch.zeros(2, dtype=torch.long))
    replaced = latent._replace(y=torch.ones(2, dtype=torch.long))
    assert torch.equal(replaced.y, torch.ones(2, dtype=torch.long)) and replaced.z is latent.z


def test_infogan_rejects_single_value_categorical_code() -> None:
    with pytest.raises(ConfigError, match="cat_dim"):
        build_info(cat_dim=1)


def test_infogan_grid_rows_are_categorical_values() -> None:
    model = build_info(n_cat=1, cat_dim=4, n_cont=2)
    grids = model.grid_latents(16, "cpu", torch.Generator().manual_seed(0))
    assert set(grids) == {"categorical", "continuous_0", "continuous_1"}
    latent, cols = grids["categorical"]
    assert cols == 4 and latent.z.shape[0] == 4 * cols
    assert latent.c_cat is not None and latent.c_cont is not None
    assert torch.equal(latent.c_cat[:, 0].view(4, cols), torch.arange(4).unsqueeze(1).expand(4, cols))
    z = latent.z.view(4, cols, -1)
    torch.testing.assert_close(z, z[:1].expand_as(z))  # columns share z across rows
    torch.testing.assert_close(latent.c_cont, torch.zeros(16, 2))
    sweep, _ = grids["continuous_1"]
    assert sweep.c_cont is not None and sweep.c_cat is not None
    assert torch.equal(sweep.c_cat[:, 0].view(4, cols), torch.arange(4).unsqueeze(1).expand(4, cols))
    torch.testing.assert_close(sweep.c_cont[:, 1].view(4, cols), torch.linspace(-2, 2, cols).expand(4, cols))
    torch.testing.assert_close(sweep.c_cont[:, 0], torch.zeros(16))
    torch.testing.assert_close(sweep.z, sweep.z[:1].expand_as(sweep.z))  # one z for the whole traversal
