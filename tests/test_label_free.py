"""The label-free feature net (rotation prediction): cached like the classifier, ranks quality, and gives an
unlabeled image_folder FID/KID/PR offline through gan-eval."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from PIL import Image

from gan_runner.data import build_dataset
from gan_runner.metrics.evaluate import default_metrics
from gan_runner.metrics.fid_kid_is import fid_from_features
from gan_runner.metrics.label_free import label_free_space, rotate_batch
from gan_runner.run import run

from conftest import tiny

pytestmark = pytest.mark.usefixtures("one_thread")
NEEDS = {"conditional": False, "infogan": False, "inception": False}


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


def test_gan_eval_on_an_unlabeled_image_folder_gives_fid_kid_pr(digits, tmp_path, compose_cfg):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(96):  # no subfolders: no labels
        Image.fromarray(digits.x[i, 0].numpy()).save(folder / f"{i}.png")
    spec = build_dataset({"name": "image_folder", "root": str(folder), "image_size": 8, "channels": 1}).spec
    assert not spec.num_classes and default_metrics(spec, **NEEDS)[:2] == ["fid", "kid"]
    run(compose_cfg(*tiny("dcgan"), "dataset=image_folder", f"dataset.root={folder}", "dataset.image_size=8",
                    "dataset.channels=1", "dataset.batch_size=16", "trainer.max_steps=2"), tmp_path / "run")
    env = {**os.environ, "GAN_RUNNER_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "gan_runner.cli.eval", str(tmp_path / "run"), "--metrics", "fid,kid,pr",
                          "--num", "64", "--device", "cpu"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    record = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert {"fid", "kid", "precision", "recall"} <= set(record["metrics"])
    assert record["feature_space"]["tag"] == "image_folder-rot" and "image_folder-rot" in out.stdout
