"""Stacked MNIST: the dataset (three source digits as R, G, B; 1,000 modes) and the stacked_modes metric."""
from __future__ import annotations

import json
import math

import pytest
import torch
from hydra import compose, initialize_config_module
from torch import nn

from gan_runner.cli import eval as eval_cli
from gan_runner.data import DataSpec, build_dataset
from gan_runner.data.stacked import draw_triples, mode_ids
from gan_runner.errors import ConfigError, UserError
from gan_runner.generation.sampling import Samples
from gan_runner.metrics import METRICS, EvalContext, stacked_mode_stats
from gan_runner.metrics.classifier import cache_path
from gan_runner.metrics.evaluate import check_metrics, default_metrics
from gan_runner.metrics.features import feature_space_for
from gan_runner.metrics.modes import kl_to_uniform
from gan_runner.metrics.space import FeatureSpace
from gan_runner.metrics.stacked import ChannelwiseDigitNet
from gan_runner.registry import MODELS
from gan_runner.run import run

from conftest import tiny

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny problems run best on one thread

# sklearn's 8x8 digits as the source: the real stacking code on a tiny, fast digit set.
SMALL = {"name": "stacked_mnist", "source": "digits", "image_size": 8, "size": 3000, "seed": 0}
KINDS = {"conditional": False, "infogan": False, "inception": False}


@pytest.fixture(scope="module")
def source():
    return build_dataset({"name": "digits", "image_size": 8})


@pytest.fixture(scope="module")
def stacked():
    return build_dataset(SMALL)


class OracleDigitNet(nn.Module):
    """A digit 'classifier' that looks each image up among the source digits: exact on real digits."""

    def __init__(self, digits) -> None:
        super().__init__()
        self.keys = digits.x.flatten(1).float().mul(2.0 / 255.0).sub(1.0)  # in model space, as FeatureSpace feeds it
        self.labels = digits.y

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.flatten(1)
        nearest = torch.cdist(flat, self.keys).argmin(1)  # (B,)
        return flat, 50.0 * nn.functional.one_hot(self.labels[nearest], 10).float()


def stacked_ctx(real, fake_x: torch.Tensor, digit_net: nn.Module) -> EvalContext:
    """An evaluation of `fake_x` against stacked data, judged by `digit_net` on each channel."""
    space = FeatureSpace("stub", ChannelwiseDigitNet(digit_net), torch.device("cpu"), {"heldout_accuracy": 1.0})
    fake = Samples(fake_x, None, None, None, True)
    return EvalContext(real=real, fake=fake, dataset_cfg=SMALL, space_factory=lambda: space)


# ---------------------------------------------------------------- the dataset


def test_shapes_labels_and_spec(stacked):
    assert stacked.x.shape == (3000, 3, 8, 8) and stacked.x.dtype == torch.uint8
    assert stacked.y is not None and stacked.y.dtype == torch.int64 and stacked.y.shape == (3000,)
    assert 0 <= int(stacked.y.min()) and int(stacked.y.max()) < 1000
    assert stacked.spec == DataSpec(name="stacked_mnist", shape=(3, 8, 8), num_classes=1000, is_image=True, flippable=False,
                                    stacked_digits=3)
    # 3,000 uniform draws of 1,000 modes: about 1000 * (1 - e^-3) = 950 distinct triples.
    assert 900 < len(stacked.y.unique()) < 1000


def test_each_channel_is_its_source_digit_and_the_label_its_triple(stacked, source):
    idx = draw_triples(len(source), 3000, seed=0)  # (3000, 3)
    for c in range(3):
        assert torch.equal(stacked.x[:, c], source.x[idx[:, c], 0])
    digits = source.y[idx]  # (3000, 3)
    assert torch.equal(stacked.y, 100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2])
    assert mode_ids(torch.tensor([[0, 0, 0], [9, 9, 9], [1, 2, 3]])).tolist() == [0, 999, 123]


def test_same_seed_same_data_whatever_the_training_seed(stacked):
    torch.manual_seed(123)  # the global RNG must not matter: the dataset has its own generator
    again = build_dataset({**SMALL, "batch_size": 32})
    assert torch.equal(again.x, stacked.x) and torch.equal(again.y, stacked.y)
    other = build_dataset({**SMALL, "seed": 1})
    assert not torch.equal(other.y, stacked.y)


def test_default_source_is_offline_mnist_5k():
    data = build_dataset({"name": "stacked_mnist", "size": 64})
    mnist = build_dataset({"name": "mnist_5k"})
    idx = draw_triples(5000, 64, seed=0)
    assert data.x.shape == (64, 3, 32, 32)
    assert torch.equal(data.x[:, 1], mnist.x[idx[:, 1], 0])


@pytest.mark.parametrize("options,match", [
    ({"size": 0}, "size must be >= 1"),
    ({"source": "cifar10"}, "option 'source' must be one of"),
    ({"image_size": 2}, "image_size must be >= 4"),
])
def test_bad_options_are_one_line_config_errors(options, match):
    with pytest.raises(ConfigError, match=match) as e:
        build_dataset({**SMALL, **options})
    assert "\n" not in str(e.value)


def test_conditional_models_take_1000_classes():
    spec = DataSpec("stacked_mnist", (3, 8, 8), 1000, True)
    for name, opts in (("cgan", {"width": 16, "d_width": 8, "pieces": 2, "z_dim": 4}), ("acgan", {"width": 8, "z_dim": 4})):
        model = MODELS.build(name, spec, options=opts)
        latent = model.sample_latent(4, "cpu")
        assert int(latent.y.max()) < 1000
        x = model.G(latent)
        assert x.shape == (4, 3, 8, 8)
        assert model.discriminate(x, latent.y).adv.shape == (4,)


# ---------------------------------------------------------------- the metric, on known answers


def test_mode_stats_known_answers():
    uniform = torch.arange(26_000) % 1000  # every triple 26 times
    assert stacked_mode_stats(uniform) == {"stacked_modes": 1000.0, "stacked_kl": pytest.approx(0.0, abs=1e-12)}
    one = torch.full((26_000,), 123)
    assert stacked_mode_stats(one) == {"stacked_modes": 1.0, "stacked_kl": pytest.approx(math.log(1000))}
    even = torch.arange(500).repeat(3)  # 500 triples, evenly
    assert stacked_mode_stats(even) == {"stacked_modes": 500.0, "stacked_kl": pytest.approx(math.log(2))}


def test_channelwise_net_joint_logits_index_the_triple():
    class Fixed(nn.Module):  # digit = the channel's constant value
        def forward(self, x):
            d = x.flatten(1)[:, 0].round().long()
            return x.flatten(1), nn.functional.one_hot(d, 10).float() * 20

    x = torch.tensor([[4.0, 0.0, 7.0], [9.0, 9.0, 1.0]])[:, :, None, None].expand(2, 3, 2, 2)
    f, joint = ChannelwiseDigitNet(Fixed())(x)
    assert f.shape == (2, 12) and joint.shape == (2, 1000)
    assert joint.argmax(1).tolist() == [407, 991]
    assert joint.exp().sum(1).tolist() == pytest.approx([1.0, 1.0])  # a distribution over the 1,000 triples


@pytest.mark.parametrize("k", [1, 7, 300])
def test_real_stacked_samples_of_k_known_triples(stacked, source, k):
    modes = stacked.y.unique()[:k]
    pick = torch.cat([torch.nonzero(stacked.y == m)[:, 0] for m in modes])  # every sample of those k triples
    ctx = stacked_ctx(stacked, stacked.x[pick], OracleDigitNet(source))
    out = METRICS.build("stacked_modes", ctx)
    assert out["stacked_modes"] == k
    assert out["stacked_kl"] == pytest.approx(kl_to_uniform(torch.bincount(stacked.y[pick], minlength=1000)))
    assert out["stacked_digit_acc"] == 1.0
    assert "--num 26000" in ctx.notes["stacked_modes"]


def test_one_triple_gives_one_mode_and_kl_log_1000(stacked, source):
    same = stacked.x[:1].expand(500, -1, -1, -1)
    out = METRICS.build("stacked_modes", stacked_ctx(stacked, same, OracleDigitNet(source)))
    assert out["stacked_modes"] == 1 and out["stacked_kl"] == pytest.approx(math.log(1000))


# ---------------------------------------------------------------- where it applies


def test_stacked_modes_on_another_dataset_is_a_one_line_error(source):
    spec = source.spec
    with pytest.raises(UserError, match=r"'stacked_modes' needs dataset=stacked_mnist.*'digits'") as e:
        check_metrics(["stacked_modes"], spec, **KINDS)
    assert "\n" not in str(e.value)
    ctx = stacked_ctx(source, source.x[:10], OracleDigitNet(source))
    with pytest.raises(UserError, match="needs dataset=stacked_mnist"):
        METRICS.build("stacked_modes", ctx)
    assert "stacked_modes" not in default_metrics(spec, **KINDS)


def test_default_metrics_for_stacked_mnist(stacked):
    names = default_metrics(stacked.spec, **KINDS)
    assert names == ["stacked_modes", "fid", "kid", "is", "pr", "dc"]  # parzen only on request
    assert default_metrics(stacked.spec, **{**KINDS, "conditional": True})[-1] == "class_acc"


def test_feature_space_is_the_source_classifier_per_channel(stacked, tmp_path):
    space = feature_space_for(stacked, SMALL, cache_dir=tmp_path)
    # Trained on the source digits and cached under the source's own key: shared with dataset=digits runs.
    assert space.info["source"] == "digits" and space.info["feature_dim"] == 384
    assert space.info["cache"] == str(cache_path(tmp_path, {"name": "digits", "image_size": 8}))
    assert space.info["heldout_accuracy"] > 0.9
    feats, logits = space.embed(stacked.x[:600])
    assert feats.shape == (600, 384) and logits.shape == (600, 1000)
    triple_acc = float((logits.argmax(1) == stacked.y[:600]).double().mean())
    assert triple_acc > 0.8  # three digits right at once (the 600 include the classifier's training digits)


def test_cgan_run_on_stacked_mnist_and_gan_eval_defaults(tmp_path, monkeypatch, capsys):
    overrides = [*tiny("cgan"), "dataset=stacked_mnist", "dataset.source=digits", "dataset.image_size=8",
                 "dataset.size=256", "trainer.max_steps=2", "trainer.sample_every=2", "trainer.grid_size=4"]
    with initialize_config_module("gan_runner.conf", version_base=None):
        cfg = compose("config", overrides=overrides)
    run(cfg, tmp_path / "run")
    monkeypatch.setenv("GAN_RUNNER_CACHE", str(tmp_path / "cache"))
    with pytest.raises(SystemExit) as e:
        eval_cli.main([str(tmp_path / "run"), "--num", "200", "--quiet", "--device", "cpu"])
    assert e.value.code == 0, capsys.readouterr().err
    record = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert record["metrics_requested"] == ["stacked_modes", "fid", "kid", "is", "pr", "dc", "class_acc"]
    assert 1 <= record["metrics"]["stacked_modes"] <= 200
    assert 0 <= record["metrics"]["class_accuracy"] <= 1
    assert record["feature_space"]["source"] == "digits"
