"""The literature's FID network (torch-fidelity's FID Inception) behind --features inception, proven offline.

The real weights cannot be downloaded here, so a randomly initialised FID Inception is saved in the
real file's format (the library's own state_dict: 566 tensors, fc 1008 x 2048) and gan-eval's features and
FID are checked against the library on the same images and file. bench/eval_fid_equivalence.py runs the
library's whole pipeline (calculate_metrics) on a few hundred images; docs/EVALUATION.md has its figures.
"""
from __future__ import annotations

import os
import pickle
from unittest import mock

import numpy as np
import pytest
import torch

from gan_runner.errors import UserError
from gan_runner.metrics.features import feature_space_for
from gan_runner.metrics.fid_inception import WEIGHTS_FILE, fetch_weights, fid_inception_space, read_weights
from gan_runner.metrics.fid_kid_is import fid_from_features
from gan_runner.metrics.ref_stats import load_ref_stats, save_ref_stats

fe = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
metric_fid = pytest.importorskip("torch_fidelity.metric_fid")


def random_fid_inception() -> torch.nn.Module:
    """torch-fidelity's FeatureExtractorInceptionV3 with random weights (nothing downloaded), BN stats set from data."""
    torch.manual_seed(0)
    with mock.patch.object(fe, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None):
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"])
    # Default init makes pool3 features vanish (~1e-8); one batch's statistics in BN keep them O(1).
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.momentum = 1.0
    net.train()
    with torch.no_grad():
        net(torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)))
    for m in bns:
        m.momentum = 0.1
    return net.eval()


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("inc") / WEIGHTS_FILE
    torch.save(random_fid_inception().state_dict(), path)
    return path


def test_weights_file_has_the_real_format(weights):
    state = read_weights(weights)
    # the real file's layout as torch-fidelity documents it (its module's state_dict): TF layer names, 1008 classes
    assert len(state) == 566 and tuple(state["fc.weight"].shape) == (1008, 2048)
    assert tuple(state["Conv2d_1a_3x3.conv.weight"].shape) == (32, 3, 3, 3)
    assert "Mixed_7c.branch_pool.conv.weight" in state and not any(k.startswith("AuxLogits") for k in state)


def test_features_and_fid_equal_the_library_on_the_same_images_and_file(weights):
    g = torch.Generator().manual_seed(1)
    real = torch.randint(0, 256, (6, 1, 16, 16), dtype=torch.uint8, generator=g)  # gray: repeated to RGB
    fake = (real.float() * 0.6).to(torch.uint8)
    space = fid_inception_space(weights)
    f_real, logits = space.embed(real)
    f_fake, _ = space.embed(fake)
    lib = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                         feature_extractor_weights_path=str(weights))
    with torch.no_grad():
        lib_real, lib_logits = lib(real.expand(-1, 3, -1, -1).contiguous())
        lib_fake, _ = lib(fake.expand(-1, 3, -1, -1).contiguous())
    torch.testing.assert_close(f_real, lib_real.double())
    torch.testing.assert_close(logits, lib_logits.double())
    stats = [metric_fid.fid_features_to_statistics(f.float()) for f in (lib_real, lib_fake)]
    lib_fid = metric_fid.fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"]
    assert fid_from_features(f_real, f_fake) == pytest.approx(lib_fid, rel=1e-4)


def test_bad_weight_files_are_one_line(tmp_path, weights):
    from torchvision.models import inception_v3

    cases = {}
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), tmp_path / "tv.pth")
    cases["tv.pth"] = "torchvision's ImageNet inception_v3"
    (tmp_path / "trunc.pth").write_bytes(weights.read_bytes()[:5000])
    cases["trunc.pth"] = "not a readable weights file"

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "ran"),))

    (tmp_path / "code.pth").write_bytes(pickle.dumps({"x": Boom()}))
    cases["code.pth"] = "not a readable weights file"
    state = read_weights(weights)
    del state["fc.bias"]
    torch.save(state, tmp_path / "missing.pth")
    cases["missing.pth"] = "does not fit the FID Inception"
    for name, message in cases.items():
        with pytest.raises(UserError, match=message) as e:
            fid_inception_space(tmp_path / name)
        assert "\n" not in str(e.value)
    assert not (tmp_path / "ran").exists()  # the pickle's code never ran


def test_offline_download_failure_says_which_file_goes_where(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(UserError, match=rf"put {WEIGHTS_FILE} .* at {tmp_path / 'hub' / 'checkpoints'}") as e:
        fetch_weights()
    assert "\n" not in str(e.value)


def test_reference_stats_round_trip_in_pytorch_fid_format(tmp_path):
    feats = torch.randn(50, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    path = save_ref_stats(tmp_path / "s.npz", feats)
    with np.load(path) as f:  # pytorch-fid's reader: f["mu"], f["sigma"]
        assert set(f.files) == {"mu", "sigma"} and f["sigma"].shape == (8, 8)
    mu, sigma = load_ref_stats(path, 8)
    torch.testing.assert_close(mu, feats.mean(0))
    with pytest.raises(UserError, match="8-d statistics but the feature space gives 2048-d"):
        load_ref_stats(path, 2048)
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(UserError, match="not an npz"):
        load_ref_stats(tmp_path / "bad.npz")


def test_feature_space_names_are_explicit(weights):
    from gan_runner.data import build_dataset

    digits = build_dataset({"name": "digits", "image_size": 8})
    space = feature_space_for(digits, {"name": "digits"}, features="inception", inception_weights=weights)
    assert space.tag == "inception" and space.info["feature_dim"] == 2048
    with pytest.raises(UserError, match="needs --inception PATH"):
        feature_space_for(digits, {"name": "digits"}, features="inception-torchvision")
