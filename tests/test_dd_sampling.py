"""Discriminator-driven sampling: refinement and DRS on hand-built 2D models, and gan-sample's options."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from PIL import Image
from torch import nn

from gan_runner.cli import sample as sample_cli
from gan_runner.data.base import DataSpec
from gan_runner.errors import UserError
from gan_runner.generation.dd_sampling import discriminator_of, drs_acceptance, drs_batch, logit_caveat, refine_sample, rejection_sample
from gan_runner.generation.loading import LoadedRun
from gan_runner.models.base import DOut, GANModel, Latent
from gan_runner.run import run

from conftest import tiny

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny problems run best on one thread


class IdentityG(nn.Module):
    """G(z) = z for 2D latents, through a weight so that 'G's weights get no gradients' can be checked."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.lin.weight.copy_(torch.eye(2))

    def forward(self, latent: Latent) -> torch.Tensor:
        return self.lin(latent.z)  # (B, 2)


class ModeD(nn.Module):
    """logit = -k ||x - mode||^2; the dropout makes any train-mode call visibly wrong."""

    def __init__(self, mode: tuple[float, float], k: float) -> None:
        super().__init__()
        self.mode = nn.Parameter(torch.tensor(mode))
        self.k = nn.Parameter(torch.tensor(k))
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        return DOut(-self.k * (self.drop(x) - self.mode).pow(2).sum(1))


class HalfPlaneD(nn.Module):
    """logit = slope * x_0 (times a parameter): real-looking on the right half-plane."""

    def __init__(self, slope: float) -> None:
        super().__init__()
        self.slope = nn.Parameter(torch.tensor(slope))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        return DOut(self.slope * x[:, 0])


def stub_run(D: nn.Module | None, loss: str = "ns") -> LoadedRun:
    """A LoadedRun around G(z) = z on 2D points and the given D."""
    model = GANModel(DataSpec("stub2d", (2,), None, False), IdentityG(), D, z_dim=2)  # type: ignore[arg-type]
    return LoadedRun(model, None, {"loss": {"name": loss}}, 0)


# ---------------------------------------------------------------- refinement

def test_refinement_descends_to_the_energy_minimum_without_touching_D():
    k, mode = 2.0, torch.tensor([3.0, 0.0])
    D = ModeD((3.0, 0.0), k)  # left in train mode: refinement must switch it to eval and back
    r = stub_run(D)
    before = {name: t.clone() for name, t in r.model.state_dict().items()}
    plain = refine_sample(r, 400, steps=0, seed=1).x
    refined = refine_sample(r, 400, steps=100, lr=0.05, seed=1).x
    # E(z) = |z|^2/2 + k |z - mode|^2 is minimal at z* = 2k/(1+2k) mode; gradient descent must land there.
    torch.testing.assert_close(refined, (2 * k / (1 + 2 * k) * mode).expand(400, 2), atol=1e-4, rtol=0)
    assert (refined - mode).norm(dim=1).mean() < 0.25 * (plain - mode).norm(dim=1).mean()
    assert D.training
    assert all(torch.equal(before[name], t) for name, t in r.model.state_dict().items())
    assert all(p.grad is None for p in r.model.parameters())


def test_langevin_refinement_samples_the_tilted_prior():
    k, lr = 2.0, 0.01
    r = stub_run(ModeD((3.0, 0.0), k))
    x = refine_sample(r, 4000, steps=300, lr=lr, langevin=True, seed=0).x
    # p(z) ~ N(z; 0, I) exp(-k |z - mode|^2) is N(2k/(1+2k) mode, I/(1+2k)); the discrete chain's
    # stationary variance is 1/(a (1 - lr a / 2)) with a = 1 + 2k (noise std sqrt(2 lr)).
    a = 1 + 2 * k
    torch.testing.assert_close(x.mean(0), torch.tensor([2 * k / a * 3.0, 0.0]), atol=0.03, rtol=0)
    assert x.var(0).tolist() == pytest.approx([1 / (a * (1 - lr * a / 2))] * 2, rel=0.1)


def test_refinement_with_zero_steps_reproduces_plain_bn_samples(tiny_runs):
    """BN generators: frozen starting-batch statistics give the batch-statistics samples back, buffers untouched."""
    from gan_runner.generation.loading import load_run
    from gan_runner.generation.sampling import generate

    r = load_run(tiny_runs["dcgan"])
    plain = generate(r, 60, seed=4)
    buffers = {name: t.clone() for name, t in r.generator().state_dict().items()}  # after generate: it counts BN batches
    again = refine_sample(r, 60, steps=0, seed=4)
    assert (plain.x.int() - again.x.int()).abs().max() <= 1  # uint8 rounding of float noise at most
    assert all(torch.equal(buffers[name], t) for name, t in r.generator().state_dict().items())


# ---------------------------------------------------------------- rejection (DRS)

def test_drs_acceptance_matches_hand_computed_values():
    logits, M, gamma, eps = [0.5, -1.0, -3.0], 0.5, -1.0, 1e-6

    def by_hand(d: float) -> float:
        F = d - M - math.log(1 - math.exp(d - M - eps)) - gamma
        return 1 / (1 + math.exp(-F))

    p = drs_acceptance(torch.tensor(logits), M, gamma)
    assert p.tolist() == pytest.approx([by_hand(d) for d in logits], rel=1e-6)
    assert p[0].item() == pytest.approx(1 / (1 + 1e-6 * math.exp(gamma)), rel=1e-6)  # d = M: F = -log(1 - e^-eps)


def test_drs_raises_the_max_before_judging_each_candidate():
    p, new_max = drs_batch(torch.tensor([1.0, 5.0, 2.0]), 3.0, 0.5)
    assert new_max.item() == 5.0
    expected = drs_acceptance(torch.tensor([1.0, 5.0, 2.0]), torch.tensor([3.0, 5.0, 5.0]), 0.5)
    torch.testing.assert_close(p, expected)
    assert torch.isfinite(p).all()  # with M left at 3 the logit 5 would give log of a negative number


def test_drs_keeps_mostly_the_half_plane_D_prefers():
    r = stub_run(HalfPlaneD(3.0))
    s, report = rejection_sample(r, 1000, burn_in=2000, percentile=95, seed=0)
    right = (s.x[:, 0] > 0).float().mean().item()
    assert len(s) == 1000 and right > 0.9  # the prior puts half of its samples there
    assert report.accepted >= 1000 and report.candidates > report.accepted
    assert report.max_logit >= 3.0 * s.x[:, 0].max().item()  # M is a running max of every judged logit
    looser, _ = rejection_sample(r, 1000, burn_in=2000, percentile=50, seed=0)
    assert (looser.x[:, 0] > 0).float().mean().item() < right  # a lower percentile keeps more of the rest


def test_drs_gives_up_with_a_clear_error_when_almost_nothing_passes():
    with pytest.raises(UserError, match="lower --drs-percentile"):
        rejection_sample(stub_run(HalfPlaneD(200.0)), 500, burn_in=500, percentile=100, max_candidates=2000)


def test_dd_refuses_runs_it_cannot_score():
    with pytest.raises(UserError, match="checkpoint has none"):
        discriminator_of(stub_run(None))
    packed = stub_run(HalfPlaneD(1.0))
    packed.model.pack = 2  # PacGAN: one logit per pair of samples
    with pytest.raises(UserError, match="packs of 2"):
        refine_sample(packed, 10, steps=1)
    with pytest.raises(UserError, match="not finite"):
        rejection_sample(stub_run(HalfPlaneD(float("nan"))), 10, burn_in=10)


def test_logit_caveat_names_losses_without_a_density_ratio():
    assert logit_caveat(stub_run(None, "ns")) is None and logit_caveat(stub_run(None, "minimax")) is None
    assert "'hinge'" in (logit_caveat(stub_run(None, "hinge")) or "")


# ---------------------------------------------------------------- gan-sample

@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory) -> dict[str, Path]:
    """Tiny trained runs on 8x8 digits: dcgan (BN generator) and cgan (labels, conditional D)."""
    root = tmp_path_factory.mktemp("dd_runs")
    for model in ("dcgan", "cgan"):
        with initialize_config_module("gan_runner.conf", version_base=None):
            cfg = compose("config", overrides=tiny(model) + ["trainer.max_steps=2", "trainer.sample_every=2"])
        run(cfg, root / model)
    return {model: root / model for model in ("dcgan", "cgan")}


def test_gan_sample_drs_end_to_end(tiny_runs, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "gan_runner.cli.sample", str(tiny_runs["dcgan"]), "--num", "37",
                          "--out", "s.npz", "--grid", "g.png", "--grid-size", "16", "--drs", "--drs-burn-in", "300",
                          "--device", "cpu", "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    with np.load(tmp_path / "s.npz") as z:
        assert z["images"].dtype == np.uint8 and z["images"].shape == (37, 1, 8, 8)
    assert Image.open(tmp_path / "g.png").size == (4 * 10 + 2, 4 * 10 + 2)  # 16 images of 8 px, 2 px padding
    assert out.stdout.count("DRS: accepted") == 2 and "wrote s.npz" in out.stdout
    assert out.stderr == ""  # loss ns: D's logit is a log density ratio, no warning


def test_gan_sample_refine_keeps_labels_in_process(tiny_runs, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        sample_cli.main([str(tiny_runs["cgan"]), "--num", "20", "--out", str(tmp_path / "c.npz"), "--refine-steps", "3",
                         "--refine-lr", "0.05", "--langevin", "--quiet"])
    assert e.value.code == 0, capsys.readouterr().err
    with np.load(tmp_path / "c.npz") as z:
        assert z["images"].shape == (20, 1, 8, 8) and z["labels"].shape == (20,) and z["labels"].max() <= 9


def test_gan_sample_dd_bad_input_is_one_line_exit_2(tiny_runs, tmp_path, capsys):
    ckpt = torch.load(tiny_runs["dcgan"] / "checkpoints" / "last.pt", weights_only=True)
    del ckpt["D"]
    torch.save(ckpt, tmp_path / "no_d.pt")
    run_dir, out = str(tiny_runs["dcgan"]), ["--out", str(tmp_path / "x.npz"), "--num", "4"]
    cases = [
        ([run_dir, *out, "--refine-steps", "-1"], "--refine-steps must be >= 0"),
        ([run_dir, *out, "--refine-steps", "2", "--refine-lr", "0"], "--refine-lr must be a positive number"),
        ([run_dir, *out, "--refine-steps", "2", "--drs"], "two methods"),
        ([run_dir, *out, "--langevin"], "give N >= 1"),
        ([run_dir, *out, "--drs", "--drs-percentile", "101"], "[0, 100]"),
        ([run_dir, *out, "--drs-percentile", "90"], "add --drs"),
        ([run_dir, *out, "--drs", "--drs-burn-in", "0"], "--drs-burn-in must be >= 1"),
        ([str(tmp_path / "no_d.pt"), *out, "--drs"], "'D'"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as e:
            sample_cli.main(argv)
        err = capsys.readouterr().err
        assert e.value.code == 2 and message in err and err.count("\n") == 1, (argv, err)
    assert not (tmp_path / "x.npz").exists()
