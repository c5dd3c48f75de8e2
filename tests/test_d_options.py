"""D-side stabilizers (pack, mbstd, spectral_norm) on every model, through one mechanism (models/d_options.py)."""
from __future__ import annotations

import pytest
import torch

import gan_runner.models  # noqa: F401  (registers models)
from gan_runner.data.base import DataSpec
from gan_runner.errors import ConfigError
from gan_runner.models.base import pack_samples
from gan_runner.registry import MODELS
from gan_runner.run import build_trainer, run

from conftest import CONF, tiny

MODEL_NAMES = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
ABLATIONS = sorted(p.stem for p in (CONF / "ablation").glob("*.yaml"))
D_SWITCHES = {"pack2": ["model.pack=2"], "mbstd": ["model.mbstd=true"], "sn": ["model.spectral_norm=true"]}
DIGITS = DataSpec("digits", (1, 16, 16), 10, True)


def test_every_model_takes_the_d_options():
    for name in MODEL_NAMES:
        assert {"pack", "mbstd", "spectral_norm"} <= set(MODELS.options(name)), name


@pytest.mark.parametrize("switch", sorted(D_SWITCHES))
@pytest.mark.parametrize("model", MODEL_NAMES)
def test_every_d_stabilizer_trains_on_every_model(tmp_path, compose_cfg, one_thread, model, switch):
    cfg = compose_cfg(*tiny(model), *D_SWITCHES[switch], "trainer.max_steps=2", "trainer.ckpt_every=2")
    metrics = run(cfg, tmp_path)
    assert metrics["status"] == "completed" and metrics["step"] == 2
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics["final"].values())


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_d_options_change_d_as_their_papers_say(model):
    torch.manual_seed(0)
    small = {"width": 4, "z_dim": 4} if model not in ("gan", "cgan") else {"width": 8, "d_width": 8, "pieces": 2, "z_dim": 4}
    plain = MODELS.build(model, DIGITS, options=small)
    packed = MODELS.build(model, DIGITS, options={**small, "pack": 2})
    first = next(m for m in packed.D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    first_plain = next(m for m in plain.D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    in_dim = first.in_channels if isinstance(first, torch.nn.Conv2d) else first.in_features
    plain_dim = first_plain.in_channels if isinstance(first_plain, torch.nn.Conv2d) else first_plain.in_features
    assert in_dim == 2 * plain_dim  # D's input layer sees two samples (and, conditional, their two labels)
    latent = packed.sample_latent(6, "cpu")
    out = packed.discriminate(packed.G(latent), latent.y)
    assert out.adv.shape == (3,)  # one verdict per pack
    if out.aux is not None:
        assert out.aux.shape[0] == 6  # per-sample heads come back per sample
    sn = MODELS.build(model, DIGITS, options={**small, "spectral_norm": True})
    linear = [m for m in sn.D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert linear and all(hasattr(m, "parametrizations") for m in linear)
    mb = MODELS.build(model, DIGITS, options={**small, "mbstd": True})
    assert any(type(m).__name__ == "MinibatchStd" for m in mb.D.modules())


def test_packed_heads_and_labels_pair_with_their_own_samples():
    """ACGAN's class head under pack=2 gives K logits per sample in pack order; CGAN's D sees each sample's label."""
    torch.manual_seed(0)
    model = MODELS.build("acgan", DIGITS, options={"width": 4, "z_dim": 4, "pack": 2})
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    model.eval()
    raw = model.D(pack_samples(x, 2)).aux  # (2, 2 * 10): pack i holds [sample 2i's 10 logits, sample 2i+1's]
    aux = model.discriminate(x, None).aux
    torch.testing.assert_close(aux[1], raw[0, 10:])
    torch.testing.assert_close(aux[2], raw[1, :10])
    cgan = MODELS.build("cgan", DataSpec("digits", (1, 4, 4), 3, True),
                        options={"width": 8, "d_width": 8, "pieces": 2, "z_dim": 4, "pack": 2})
    y = torch.tensor([2, 0, 1, 1])
    feats = cgan.D.features(pack_samples(torch.zeros(4, 16), 2), y.reshape(-1, 2))
    torch.testing.assert_close(feats[:, 32:], torch.tensor([[0., 0, 1, 1, 0, 0], [0, 1, 0, 0, 1, 0]]))


def test_d_options_refused_in_one_line():
    with pytest.raises(ConfigError, match="spectrally normalized by definition"):
        MODELS.build("sngan", DIGITS, options={"spectral_norm": False})
    with pytest.raises(ConfigError, match="'pack' must be >= 1"):
        MODELS.build("dcgan", DIGITS, options={"pack": 0})


@pytest.mark.parametrize("ablation", ABLATIONS)
@pytest.mark.parametrize("model", MODEL_NAMES)
def test_every_ablation_builds_on_every_model(tmp_path, compose_cfg, model, ablation):
    """`ablation=X model=M` composes and builds for every pair (the 2D-only and image-only ones are data checks)."""
    trainer = build_trainer(compose_cfg(*tiny(model), f"ablation={ablation}"), tmp_path)
    assert trainer.model.pack == trainer.config["model"].get("pack", 1)
