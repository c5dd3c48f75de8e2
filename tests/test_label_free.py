"""The label-free feature net (rotation prediction): cached like the classifier, ranks quality, and gives an
unlabeled image_folder FID/KID/PR offline through gan-eval."""
from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from gan_runner.cli import eval as eval_cli
from gan_runner.data import build_dataset
from gan_runner.metrics import label_free
from gan_runner.metrics.evaluate import default_metrics
from gan_runner.metrics.fid_kid_is import fid_from_features
from gan_runner.metrics.label_free import label_free_space, rotate_batch
from gan_runner.run import run

from conftest import tiny

pytestmark = pytest.mark.usefixtures("one_thread")
NEEDS = {"conditional": False, "infogan": False, "inception": False}


@pytest.fixture(autouse=True)
def short_training(monkeypatch):
    # A fifth of the real budget (~1.5 epochs of digits): the net is already far above chance, and these tests
    # check caching, ranking and wiring, not the budget (docs/EVALUATION.md validates the real one).
    monkeypatch.setattr(label_free, "TRAIN_IMAGES", 8000)


@pytest.fixture(scope="module")
def digits():
    return build_dataset({"name": "digits", "image_size": 8})


def test_rotations_are_the_four_quarter_turns():
    x = torch.arange(4.0).view(1, 1, 2, 2)
    rot, ids = rotate_batch(x)
    assert ids.tolist() == [0, 1, 2, 3] and torch.equal(rot[2], x[0].flip(1, 2))


def test_trained_once_cached_and_ranks_noise_below_real(digits, tmp_path):
    cfg = {"name": "digits", "image_size": 8}
    space = label_free_space(digits, cfg, tmp_path)
    assert space.info["trained_now"] and space.info["heldout_accuracy"] > 0.6  # chance is 0.25
    again = label_free_space(digits, cfg, tmp_path)
    assert not again.info["trained_now"] and again.tag == "digits-rot" and not again.has_classifier
    half = len(digits) // 2
    a, b = space.embed(digits.x[:half])[0], space.embed(digits.x[half:])[0]
    noise = space.embed(torch.randint(0, 256, digits.x[half:].shape, dtype=torch.uint8))[0]
    assert fid_from_features(a, b) < 0.2 * fid_from_features(a, noise)


def test_gan_eval_on_an_unlabeled_image_folder_gives_fid_kid_pr(digits, tmp_path, compose_cfg, monkeypatch, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(96):  # no subfolders: no labels
        Image.fromarray(digits.x[i, 0].numpy()).save(folder / f"{i}.png")
    spec = build_dataset({"name": "image_folder", "root": str(folder), "image_size": 8, "channels": 1}).spec
    assert not spec.num_classes and default_metrics(spec, **NEEDS)[:2] == ["fid", "kid"]
    run(compose_cfg(*tiny("dcgan"), "dataset=image_folder", f"dataset.root={folder}", "dataset.image_size=8",
                    "dataset.channels=1", "dataset.batch_size=16", "trainer.max_steps=2"), tmp_path / "run")
    monkeypatch.setenv("GAN_RUNNER_CACHE", str(tmp_path / "cache"))
    with pytest.raises(SystemExit) as e:  # in process: no interpreter start-up, and the short training applies
        eval_cli.main([str(tmp_path / "run"), "--metrics", "fid,kid,pr", "--num", "64", "--device", "cpu"])
    out = capsys.readouterr()
    assert e.value.code == 0, out.err
    record = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert {"fid", "kid", "precision", "recall"} <= set(record["metrics"])
    assert record["feature_space"]["tag"] == "image_folder-rot" and "image_folder-rot" in out.out
    # IS needs class posteriors: unlabeled data has no classifier to give them, refused before sampling
    with pytest.raises(SystemExit) as e:
        eval_cli.main([str(tmp_path / "run"), "--metrics", "is", "--features", "label-free", "--json",
                       str(tmp_path / "is.json")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "metric 'is' needs a classifier" in err and err.count("\n") == 1
    assert not (tmp_path / "is.json").exists()
