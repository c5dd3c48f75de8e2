"""The mode-collapse reproduction presets (experiment=veegan_*/pacgan_*) carry the papers' setups and train.

Settings are PacGAN's released 2D code (fjxmlzn/PacGAN synthetic_data_experiments) and the unrolled GAN
reference notebook VEEGAN's baseline follows; docs/REPRODUCTION.md lists them beside the results.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_runner.data.base import DataSpec
from gan_runner.registry import MODELS
from gan_runner.run import run

FAST = ["trainer.device=cpu", "trainer.precision=fp32", "trainer.quiet=true", "trainer.max_steps=3",
        "trainer.eval_every=3", "trainer.log_every=1", "trainer.sample_every=3", "trainer.ckpt_every=3"]
PRESETS = ["veegan_ring", "veegan_grid", "pacgan_ring", "pacgan_grid"]
TOY = DataSpec("ring8", (2,), None, False)


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_has_its_papers_setup(compose_cfg, preset):
    cfg = compose_cfg(f"experiment={preset}")
    m, d, o, t = cfg.model, cfg.dataset, cfg.optimizer, cfg.trainer
    assert d.name == {"ring": "ring8", "grid": "grid25"}[preset.split("_")[1]]
    assert (cfg.eval.metrics, cfg.eval.num, t.ema, cfg.stabilize.r1) == (["modes"], 2500, 0.0, 0.0)
    assert t.eval_every > 0 and list(cfg.eval.periodic) == ["modes"]  # the mode-count curve
    if preset.startswith("pacgan"):
        assert (m.z_dim, m.width, m.depth, m.g_norm) == (2, 400, 4, "batch")
        assert (m.d_width, m.d_depth, m.d_activation, m.pieces, m.dropout, m.input_dropout) == (200, 3, "maxout", 5, 0, 0)
        assert (o.lr_g, o.lr_d, list(o.betas), d.batch_size, t.max_steps) == (1e-4, 1e-4, [0.8, 0.999], 100, 400_000)
    else:
        assert (m.z_dim, m.width, m.depth, m.g_norm, m.d_width, m.d_depth) == (256, 128, 2, "none", 128, 1)
        assert (o.lr_g, o.lr_d, list(o.betas), d.batch_size, t.max_steps) == (1e-4, 1e-4, [0.5, 0.999], 512, 25_000)
    if preset == "pacgan_ring":
        assert (d.radius, d.std) == (1.0, 0.01)
    elif preset == "veegan_ring":
        assert (d.radius, d.std) == (2.0, 0.02)
    else:
        assert d.std == 0.05


RUNS = [
    ["experiment=pacgan_ring"],
    ["experiment=pacgan_grid", "model.pack=4", "dataset.batch_size=400"],
    ["experiment=veegan_ring", "loss=minimax", "ablation=unroll"],
    ["experiment=veegan_grid", "loss=minimax"],
]


@pytest.mark.parametrize("overrides", RUNS, ids=[o[0].split("=")[1] + ("_" + o[-1] if len(o) > 1 else "") for o in RUNS])
def test_preset_trains_and_scores_modes(tmp_path, compose_cfg, one_thread, overrides):
    metrics = run(compose_cfg(*overrides, *FAST), tmp_path)
    assert metrics["status"] == "completed" and metrics["step"] == 3
    total = 8 if "ring" in overrides[0] else 25
    assert metrics["eval"]["modes_total"] == total and 0 <= metrics["eval"]["modes"] <= total
    assert [e["step"] for e in metrics["periodic_eval"]["history"]] == [3]


def test_g_norm_batch_puts_batch_norm_before_each_g_relu():
    G = MODELS.build("gan", TOY, options={"z_dim": 2, "width": 16, "depth": 3, "g_norm": "batch"}).G
    layers = list(G.net)
    relus = [i for i, layer in enumerate(layers) if isinstance(layer, nn.ReLU)]
    assert len(relus) == 3 and all(isinstance(layers[i - 1], nn.BatchNorm1d) for i in relus)
    # In training mode each hidden unit's pre-activation is standardized over the batch.
    torch.manual_seed(0)
    G.train()
    pre = G.net[:2](torch.randn(256, 2) * 5 + 3)  # (256, 16): first Linear + BN
    torch.testing.assert_close(pre.mean(0), torch.zeros(16), atol=1e-5, rtol=0)
    torch.testing.assert_close(pre.std(0, unbiased=False), torch.ones(16), atol=1e-3, rtol=0)


def test_g_norm_default_builds_todays_generator_bitwise():
    """No g_norm (the default) = the generator built before the option existed: same modules, same weights."""
    torch.manual_seed(0)
    new = MODELS.build("gan", TOY, options={"z_dim": 4, "width": 16, "depth": 2})
    torch.manual_seed(0)
    explicit = MODELS.build("gan", TOY, options={"z_dim": 4, "width": 16, "depth": 2, "g_norm": "none"})
    assert not any(isinstance(mod, nn.modules.batchnorm._BatchNorm) for mod in new.G.modules())
    kinds = [type(layer).__name__ for layer in new.G.net]
    assert kinds == ["Linear", "Identity", "ReLU", "Linear", "Identity", "ReLU", "Linear", "Identity"]
    for (ka, a), (kb, b) in zip(new.state_dict().items(), explicit.state_dict().items(), strict=True):
        assert ka == kb
        torch.testing.assert_close(a, b, rtol=0, atol=0)
