"""Resuming from a checkpoint continues exactly where an uninterrupted run would be."""
from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_module
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gan_runner.run import run

from conftest import gan_run, tiny


def compose_tiny(*extra: str):
    with initialize_config_module("gan_runner.conf", version_base=None):
        return compose("config", overrides=[*tiny("acgan"), "trainer.ckpt_every=3", "trainer.log_every=1", *extra])


def assert_same_state(a, b, path: str = "") -> None:
    """Recursively: tensors bitwise equal, everything else equal."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_same_state(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


@pytest.mark.parametrize("loss", ["ns", "wgan_gp"])
def test_resume_is_bitwise_identical_to_an_uninterrupted_run(tmp_path, loss):
    run(compose_tiny(f"loss={loss}", "trainer.max_steps=6"), tmp_path / "straight")
    run(compose_tiny(f"loss={loss}", "trainer.max_steps=3"), tmp_path / "interrupted")
    run(compose_tiny(f"loss={loss}", "trainer.max_steps=6", f"trainer.resume={tmp_path / 'interrupted'}"),
        tmp_path / "interrupted")
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "interrupted" / "checkpoints" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 6
    for key in ["G", "D", "G_ema", "opt_g", "opt_d", "sched_g", "sched_d", "stream", "rng"]:
        assert_same_state(a[key], b[key], key)


def test_cli_resume_continues_in_place_without_duplicate_tensorboard_steps(tmp_path):
    run_dir = tmp_path / "run"
    first = gan_run(*tiny("dcgan"), "trainer.log_every=1", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = gan_run(*tiny("dcgan"), "trainer.log_every=1", "trainer.max_steps=7", f"trainer.resume={run_dir}",
                     cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert set(p.name for p in tmp_path.iterdir()) == {"run"}, "resume writes into the run it continues"
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["step"] == 7
    steps = [e.step for e in EventAccumulator(str(run_dir / "tb")).Reload().Scalars("loss/g")]
    assert steps == list(range(1, 8))


def test_resume_with_a_different_model_is_a_clear_error(tmp_path):
    run(compose_tiny("trainer.max_steps=3"), tmp_path / "a")
    out = gan_run(*tiny("acgan"), "model.width=16", f"trainer.resume={tmp_path / 'a'}", cwd=tmp_path)
    assert out.returncode == 2 and "does not fit this config: model.width was 8" in out.stderr


def test_same_seed_same_run_and_different_seed_different_run(tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        run(compose_tiny(f"seed={seed}", "trainer.max_steps=3"), tmp_path / name)
    load = lambda n: torch.load(tmp_path / n / "checkpoints" / "last.pt", weights_only=True)  # noqa: E731
    a, b, c = load("a"), load("b"), load("c")
    assert_same_state(a["G"], b["G"], "G")
    assert_same_state(a["D"], b["D"], "D")
    assert not all(torch.equal(a["G"][k], c["G"][k]) for k in a["G"])


def test_a_decaying_schedule_resumes_exactly_after_an_interruption(tmp_path, monkeypatch):
    """The default job decays its rates to 0 at max_steps: stopped at step 3 (as by Ctrl-C) and resumed to the same
    max_steps, it ends bitwise where the uninterrupted run ends, learning rates included."""
    from gan_runner.training.trainer import Trainer

    decay = ["optimizer.schedule=linear", "trainer.max_steps=6"]
    run(compose_tiny(*decay), tmp_path / "straight")
    original = Trainer.stop_request

    def ctrl_c_at_step_3(self, signal, t0):
        return ("interrupted", "signal 2") if self.step == 3 else original(self, signal, t0)

    monkeypatch.setattr(Trainer, "stop_request", ctrl_c_at_step_3)
    stopped = run(compose_tiny(*decay), tmp_path / "interrupted")
    assert (stopped["status"], stopped["step"]) == ("interrupted", 3)
    monkeypatch.setattr(Trainer, "stop_request", original)
    run(compose_tiny(*decay, f"trainer.resume={tmp_path / 'interrupted'}"), tmp_path / "interrupted")
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "interrupted" / "checkpoints" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 6 and a["opt_g"]["param_groups"][0]["lr"] == 0.0  # decayed to 0 at the end
    for key in ["G", "D", "G_ema", "opt_g", "opt_d", "sched_g", "sched_d", "stream", "rng"]:
        assert_same_state(a[key], b[key], key)
