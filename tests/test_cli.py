"""gan-run as a user runs it: in a subprocess, for success and for bad input."""
from __future__ import annotations

import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import TINY, gan_run, tiny


def test_run_writes_everything_under_its_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    out = gan_run(*tiny("cgan"), f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "done: 4 steps" in out.stdout and str(run_dir.name) in out.stdout
    assert (run_dir / ".hydra" / "config.yaml").is_file() and (run_dir / ".hydra" / "overrides.yaml").is_file()
    ckpt = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["step"] == 4 and ckpt["config"]["model"]["name"] == "cgan"
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("step_*.pt")) == ["step_0000002.pt", "step_0000004.pt"]
    assert (run_dir / "samples" / "per_class_0000004.png").is_file()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["step"] == 4
    assert set(p.name for p in tmp_path.iterdir()) == {"run"}, "nothing written outside the run dir"

    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"images": 0, "scalars": 0}).Reload()
    tags = events.Tags()
    for tag in ["loss/d", "loss/g", "D/real", "D/fake", "grad_norm/d", "grad_norm/g", "lr/g", "lr/d",
                "perf/steps_per_s", "perf/images_per_s"]:
        assert tag in tags["scalars"], tag
    assert [e.step for e in events.Scalars("loss/d")] == [2, 4]
    assert "samples/per_class" in tags["images"]


def test_wgan_logs_wasserstein_estimate(tmp_path):
    out = gan_run(*tiny("dcgan"), "loss=wgan", "trainer.max_steps=2", f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    events = EventAccumulator(str(tmp_path / "tb")).Reload()
    assert "wasserstein" in events.Tags()["scalars"]


def test_cfg_job_prints_composed_config(tmp_path):
    out = gan_run("model=infogan", "--cfg", "job", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "name: infogan" in out.stdout and "n_cat: 1" in out.stdout
    assert not any(tmp_path.iterdir()), "--cfg must not create a run dir"


BAD_INPUT = [
    (["model=foo"], "unknown model 'foo' (choices: acgan, cgan, dcgan, gan, infogan, sngan)"),
    (["loss=wgan", "optimizer=nope"], "unknown optimizer 'nope'"),
    (["model.widht=3"], "did you mean 'model.width'"),
    (["+model.widht=3"], "model 'dcgan' has no option 'widht' (options: d_norm, d_width, mbstd, pack, spectral_norm, width, z_dim)"),
    (["model=cgan", "dataset=ring8"], "needs class labels but dataset 'ring8' has none"),
    (["model=dcgan", "dataset=ring8"], "use model=gan for 2D data"),
    (["dataset.image_size=28"], "4*2^k"),
    (["trainer.max_steps=0"], "trainer.max_steps must be an integer >= 1"),
    (["trainer.n_critic=abc"], "trainer.n_critic must be an integer >= 1"),
    (["dataset.batch_size=100000"], "larger than dataset"),
    (["optimizer.lr_g=-1"], "optimizer.lr_g must be a number > 0"),
    (["trainer.device=tpu"], "trainer.device must be auto, cpu or cuda"),
    (["model=infogan", "model.cat_dim=1"], "cat_dim"),
    (["loss=wgan", "loss.clip=-1"], "clip"),
    (["dataset=mnist", "dataset.root=/nonexistent"], "put the files there or set dataset.download=true"),
    (["dataset=image_folder"], "needs dataset.root"),
    (["trainer.resume=/nonexistent/run"], "does not exist"),
]


def check_bad_input(run, tmp_path, args, message):
    """`run` gan-run with `args`: exit 2, one `error:` line containing `message`, no training output."""
    run_dir = tmp_path / "run"
    out = run(*args, "trainer.max_steps=1" if "trainer.max_steps=0" not in args else "seed=0",
              f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert message in lines[0]
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "tb").exists()


@pytest.mark.parametrize("args,message", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_and_writes_no_training_output(gan_run_here, tmp_path, args, message):
    # main() in this process: the same code as the console script, ~0.5 s a case instead of ~8 s
    check_bad_input(gan_run_here, tmp_path, args, message)


@pytest.mark.parametrize("index", [0, 8], ids=lambda i: " ".join(BAD_INPUT[i][0]))
def test_bad_input_in_a_real_process(tmp_path, index):
    # one composition error and one run-time error through a real interpreter: exit status and stderr as a shell sees them
    check_bad_input(gan_run, tmp_path, *BAD_INPUT[index])


def test_resume_path_that_is_not_a_run(tmp_path):
    (tmp_path / "notarun").mkdir()
    out = gan_run(*TINY, f"trainer.resume={tmp_path / 'notarun'}", f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path)
    assert out.returncode == 2 and "not a gan-runner run dir" in out.stderr


def test_multirun_sweep_gives_each_job_its_own_run_dir(tmp_path):
    out = gan_run("-m", *TINY, "seed=0,1", f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for job in ("0_seed=0", "1_seed=1"):  # job dirs are named by what the sweep varies
        metrics = json.loads((tmp_path / "sweep" / job / "metrics.json").read_text())
        assert metrics["status"] == "completed"
        assert (tmp_path / "sweep" / job / "checkpoints" / "last.pt").is_file()


def test_a_failing_or_diverging_job_does_not_end_the_sweep(tmp_path):
    # sweep 1: job 0 trains, job 1 diverges (absurd learning rate); sweep 2: job 1 is invalid (zero width)
    out = gan_run("-m", *tiny("gan"), "dataset=ring8", "optimizer=sgd", "optimizer.lr_g=0.01", "optimizer.lr_d=0.01,1e8",
                  "trainer.max_steps=10", "trainer.log_every=5", f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    statuses = [json.loads(next((tmp_path / "sweep").glob(f"{j}_*/metrics.json")).read_text()) for j in ("0", "1")]
    assert statuses[0]["status"] == "completed"
    assert statuses[1]["status"] == "diverged" and "non-finite" in statuses[1]["reason"]
    out = gan_run("-m", *tiny("dcgan"), "model.width=8,0", f"hydra.sweep.dir={tmp_path}/sweep2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    bad = json.loads((tmp_path / "sweep2" / "1_model.width=0" / "metrics.json").read_text())
    assert bad["status"] == "failed" and "option 'width' must be > 0" in bad["reason"]
    assert json.loads((tmp_path / "sweep2" / "0_model.width=8" / "metrics.json").read_text())["status"] == "completed"
