"""Table-driven: every bad input a user can give fails before training with one clear line, writing nothing.

(The CLI tests check the same path end to end: one stderr line, exit code 2.)
"""
from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from PIL import Image

from gan_runner.errors import UserError
from gan_runner.run import run

from conftest import tiny

CASES = [
    # (overrides, substring of the one-line message)
    (["model.width=0"], "option 'width' must be > 0"),
    (["model.width=-3"], "option 'width' must be > 0"),
    (["model.z_dim=0"], "option 'z_dim' must be > 0"),
    (["model.width=abc"], "option 'width' must be int"),
    (["model.width=1.5"], "option 'width' must be int"),
    (["+model.widht=3"], "has no option 'widht'"),
    (["model.d_norm=group"], "option 'd_norm' must be one of"),
    (["model=acgan", "model.dropout=1.5"], "must be a probability"),
    (["model=gan", "model.d_activation=tanh"], "option 'd_activation' must be one of"),
    (["model=gan", "model.dropout=-0.1"], "must be a probability"),
    (["model=infogan", "model.cat_dim=1"], "cat_dim"),
    (["model=infogan", "model.n_cont=-1"], "n_cont"),
    (["model=infogan", "model.n_cat=0"], "n_cat"),
    (["model=infogan", "dataset.image_size=10"], "divisible by 4"),
    (["model=cgan", "dataset=ring8"], "needs class labels"),
    (["model=acgan", "dataset=ring8"], "needs image data"),
    (["model=dcgan", "dataset=ring8"], "use model=gan for 2D data"),
    (["dataset.image_size=12"], "4*2^k"),
    (["dataset.image_size=2"], "image_size"),
    (["dataset.batch_size=0"], "dataset.batch_size must be an integer >= 1"),
    (["dataset.batch_size=100000"], "larger than dataset"),
    (["dataset=ring8", "model=gan", "dataset.std=0"], "std"),
    (["dataset=mnist", "dataset.root=/nonexistent"], "put the files there or set dataset.download=true"),
    (["dataset=image_folder"], "needs dataset.root"),
    (["+dataset.colour=1"], "has no option 'colour'"),
    (["loss=wgan", "loss.clip=-1"], "clip"),
    (["loss=wgan_gp", "loss.gp_weight=-1"], "gp_weight"),
    (["+loss.margin=1"], "loss 'ns' has no option 'margin'"),
    (["loss.label_smoothing=1.0"], "label_smoothing' must be in [0, 1)"),
    (["loss=hinge", "+loss.label_smoothing=0.1"], "loss 'hinge' has no option 'label_smoothing'"),
    (["stabilize.diffaugment=[colour]"], "stabilize.diffaugment"),
    (["model=gan", "dataset=ring8", "stabilize.diffaugment=[color]"], "diffaugment needs images"),
    (["stabilize.r1=-1"], "stabilize.r1 must be a number >= 0"),
    (["stabilize.reg_every=0"], "stabilize.reg_every must be an integer >= 1"),
    (["stabilize.unroll=1.5"], "stabilize.unroll must be an integer"),
    (["+stabilize.r3=1"], "stabilize has no option 'r3'"),
    (["model.pack=3"], "model.pack=3 needs dataset.batch_size divisible"),
    (["model.pack=0"], "option 'pack' must be >= 1"),
    (["model=sngan", "model.spectral_norm=false"], "model 'sngan' is spectrally normalized by definition"),
    (["model=cgan", "+model.packs=2"], "model 'cgan' has no option 'packs'"),
    (["loss.name=focal"], "unknown loss 'focal'"),
    (["optimizer.lr_g=0"], "optimizer.lr_g must be a number > 0"),
    (["optimizer.lr_d=-1"], "optimizer.lr_d must be a number > 0"),
    (["optimizer.lr_g=nan"], "optimizer.lr_g must be a number > 0"),
    (["optimizer.betas=[0.5]"], "betas"),
    (["optimizer.schedule=exp"], "optimizer.schedule must be"),
    (["optimizer.warmup_steps=-1"], "warmup_steps"),
    (["+optimizer.nesterov=true"], "optimizer 'adam' has no option 'nesterov'"),
    (["trainer.max_steps=0"], "trainer.max_steps must be an integer >= 1"),
    (["trainer.n_critic=0"], "trainer.n_critic must be an integer >= 1"),
    (["trainer.log_every=0"], "trainer.log_every must be an integer >= 1"),
    (["trainer.max_time=-5"], "trainer.max_time must be"),
    (["trainer.ema=1.5"], "trainer.ema must be a decay in [0, 1)"),
    (["trainer.device=tpu"], "trainer.device must be auto, cpu or cuda"),
    (["trainer.on_divergence=ignore"], "trainer.on_divergence must be stop or rollback"),
    (["+trainer.lr=1"], "trainer has no option 'lr'"),
    (["trainer.resume=/nonexistent/run"], "does not exist"),
    (["seed=abc"], "seed must be an integer"),
    (["eval.metrics=[fidd]"], "unknown metric 'fidd'"),
    (["model=gan", "dataset=ring8", "eval.metrics=[parzen]"], "metric 'parzen' needs images"),
    (["eval.num=1"], "eval.num must be an integer >= 2"),
]


def compose_bad(overrides: list[str]):
    model = next((o.split("=", 1)[1] for o in overrides if o.startswith("model=")), "dcgan")
    base = [o for o in tiny(model) if o.split("=")[0] not in {o2.split("=")[0].lstrip("+") for o2 in overrides}]
    with initialize_config_module("gan_runner.conf", version_base=None):
        return compose("config", overrides=[*base, *overrides])


@pytest.mark.parametrize("overrides,message", CASES, ids=[" ".join(o) for o, _ in CASES])
def test_bad_input_fails_before_training_and_writes_nothing(tmp_path, overrides, message):
    run_dir = tmp_path / "run"
    with pytest.raises(UserError) as info:
        run(compose_bad(overrides), run_dir)
    text = str(info.value)
    assert message in text and "\n" not in text
    assert not run_dir.exists(), "a failed start must leave nothing a later run could trip over"


def test_enough_cases():
    assert len(CASES) >= 30


def _folder(tmp_path: Path, corrupt: bool) -> Path:
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(4):
        Image.new("RGB", (10, 10), (i * 40, 0, 0)).save(root / f"{i}.png")
    if corrupt:
        (root / "broken.png").write_bytes(b"not a png")
    return root


def test_image_folder_with_a_corrupt_file_names_it(tmp_path):
    root = _folder(tmp_path, corrupt=True)
    with pytest.raises(UserError, match="broken.png"):
        run(compose_bad(["dataset=image_folder", f"dataset.root={root}", "dataset.image_size=8",
                         "dataset.batch_size=2"]), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_resume_from_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notarun").mkdir()
    with pytest.raises(UserError, match="not a gan-runner run dir"):
        run(compose_bad([f"trainer.resume={tmp_path / 'notarun'}"]), tmp_path / "run")
