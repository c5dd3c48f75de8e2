"""Nothing lost: signals, kill -9, corrupt checkpoints, unsafe pickles, full disks, divergence."""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gan_runner import checkpoint as ckpt_mod
from gan_runner.checkpoint import load_checkpoint
from gan_runner.errors import UserError
from gan_runner.losses.standard import NonSaturating
from gan_runner.registry import LOSSES
from gan_runner.run import run

from conftest import gan_run, tiny


def cfg(*extra: str):
    with initialize_config_module("gan_runner.conf", version_base=None):
        return compose("config", overrides=[*tiny("dcgan"), *extra])


def start_cli(run_dir: Path, *extra: str) -> subprocess.Popen[str]:
    """gan-run in the background with many steps, returning once it has logged progress."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.Popen([sys.executable, "-m", "gan_runner.cli.train", *tiny("dcgan"), "trainer.max_steps=100000",
                             "trainer.quiet=false", "trainer.log_every=5", *extra, f"hydra.run.dir={run_dir}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("step "):
            return proc
    raise AssertionError(f"no progress line: {proc.stderr.read() if proc.stderr else ''}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_writes_a_checkpoint_and_exits_cleanly(tmp_path, sig):
    run_dir = tmp_path / "run"
    proc = start_cli(run_dir, "trainer.ckpt_every=100000")  # no periodic checkpoint: only the signal's
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    assert "trainer.resume=" in out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["signal"] == sig
    ckpt = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert ckpt["step"] == metrics["step"] > 0
    again = gan_run(*tiny("dcgan"), f"trainer.max_steps={metrics['step'] + 2}", f"trainer.resume={run_dir}")
    assert again.returncode == 0, again.stderr
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"] == metrics["step"] + 2


def test_kill_9_leaves_a_loadable_last_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    for delay in (0.0, 0.3, 0.7):
        proc = start_cli(run_dir, "trainer.ckpt_every=1", "trainer.resume=auto")
        time.sleep(delay)
        proc.kill()
        proc.communicate(timeout=30)
        # start_cli returned after the step-5 progress line: with ckpt_every=1 steps 1-4 were saved, so last.pt
        # must exist and load whenever the kill came (an `if last.exists()` here would pass on a lost checkpoint)
        assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"] >= 1
    # A writer killed mid-save may leave a temp file beside the checkpoints; resuming must not trip over it.
    proc = start_cli(run_dir, "trainer.ckpt_every=1", "trainer.resume=auto")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGINT


def test_corrupt_last_checkpoint_falls_back_to_the_previous_good_one(tmp_path):
    run(cfg("trainer.max_steps=4", "trainer.ckpt_every=2"), tmp_path / "run")
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])  # truncated (last.pt and step_4 share the file)
    with pytest.raises(UserError, match="unreadable"):
        load_checkpoint(last)
    out = gan_run(*tiny("dcgan"), "trainer.max_steps=6", f"trainer.resume={tmp_path / 'run'}")
    assert out.returncode == 0, out.stderr
    assert "warning:" in out.stderr and "step_0000002.pt" in out.stderr
    assert load_checkpoint(last)["step"] == 6


def test_checkpoint_crafted_to_run_code_does_not_run_it(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "payload": Evil()}, path)
    with pytest.raises(UserError, match="unreadable"):
        load_checkpoint(path)
    assert not marker.exists()


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    real_save = torch.save
    calls = {"n": 0}

    def save_then_fail(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 2:  # the second checkpoint hits a full disk halfway
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(ckpt_mod.torch, "save", save_then_fail)
    with pytest.raises(UserError, match="No space left on device; the previous checkpoint is intact"):
        run(cfg("trainer.max_steps=4", "trainer.ckpt_every=2"), tmp_path / "run")
    monkeypatch.setattr(ckpt_mod.torch, "save", real_save)
    ckpt_dir = tmp_path / "run" / "checkpoints"
    assert load_checkpoint(ckpt_dir / "last.pt")["step"] == 2
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["last.pt", "step_0000002.pt"], "no temp files left"


def test_divergence_stops_with_a_reason_and_keeps_good_checkpoints(tmp_path):
    out = gan_run(*tiny("gan"), "dataset=ring8", "optimizer=sgd", "optimizer.lr_g=1e8", "optimizer.lr_d=1e8",
                  "trainer.max_steps=50", "trainer.log_every=5", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 3 and "diverged" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and "non-finite" in metrics["reason"]
    assert metrics["step"] <= 5, "detected within log_every steps"
    for path in (tmp_path / "checkpoints").glob("*.pt") if (tmp_path / "checkpoints").exists() else []:
        ck = load_checkpoint(path)
        assert all(torch.isfinite(t).all() for t in ck["G"].values() if t.is_floating_point())


class _NaNOnce(NonSaturating):
    """A loss that returns NaN once, at its Nth D objective: a stand-in for a sudden blow-up."""

    def __init__(self, *, at: int = 7, label_smoothing: float = 0.0) -> None:
        super().__init__(label_smoothing=label_smoothing)
        self.at, self.calls = at, 0

    def d_terms(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        loss = super().d_terms(real, fake)
        return loss * float("nan") if self.calls == self.at else loss


@pytest.fixture
def nan_once_loss():
    with LOSSES.temporarily("nan_once", _NaNOnce):
        yield


def test_rollback_reloads_the_last_good_checkpoint_with_lower_learning_rates(tmp_path, nan_once_loss):
    metrics = run(cfg("loss.name=nan_once", "trainer.max_steps=8", "trainer.ckpt_every=4", "trainer.log_every=1",
                      "trainer.on_divergence=rollback"), tmp_path / "run")
    assert metrics["status"] == "completed" and metrics["step"] == 8
    [event] = metrics["rollbacks"]
    assert (event["at_step"], event["to_step"], event["lr_scale"]) == (7, 4, 0.5)
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ckpt["opt_g"]["param_groups"][0]["lr"] == pytest.approx(1.5e-3)  # the default job's 3e-3 x 0.5


def test_rollback_gives_up_after_max_rollbacks(tmp_path, nan_once_loss):
    metrics = run(cfg("loss.name=nan_once", "trainer.max_steps=8", "trainer.ckpt_every=4", "trainer.log_every=1",
                      "trainer.on_divergence=rollback", "trainer.max_rollbacks=0"), tmp_path / "run")
    assert metrics["status"] == "diverged" and metrics["rollbacks"] == []


def test_resume_auto_starts_fresh_then_continues(tmp_path):
    first = run(cfg("trainer.max_steps=2", "trainer.resume=auto"), tmp_path / "run")
    assert first["step"] == 2
    second = run(cfg("trainer.max_steps=4", "trainer.resume=auto"), tmp_path / "run")
    assert second["step"] == 4 and load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == 4


# ------------------------------------------------------------------------------ issue 22: disks, writers, Ctrl-C
def test_torch_save_failing_on_a_full_disk_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch, gan_run_here):
    # torch.save reports a full disk as RuntimeError ("unexpected pos"), not OSError: it escaped as a 58-line traceback
    real_save = torch.save
    calls = {"n": 0}

    def save_then_fail(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 2:
            f.write(b"partial")
            raise RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file "
                               "data/3: file write failed; unexpected pos 2240 vs 2132")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(ckpt_mod.torch, "save", save_then_fail)
    out = gan_run_here(*tiny("dcgan"), "trainer.max_steps=4", "trainer.ckpt_every=2", f"hydra.run.dir={tmp_path / 'run'}")
    monkeypatch.setattr(ckpt_mod.torch, "save", real_save)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "could not write checkpoint" in out.stderr and "the previous checkpoint is intact" in out.stderr
    ckpt_dir = tmp_path / "run" / "checkpoints"
    assert load_checkpoint(ckpt_dir / "last.pt")["step"] == 2
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["last.pt", "step_0000002.pt"], "no temp files left"
    assert not (tmp_path / "run" / ".gan-run.lock").exists(), "the lock goes with the run"


def test_a_failed_metrics_write_is_one_line(tmp_path, monkeypatch, gan_run_here):
    from gan_runner import run as run_mod

    def full(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(run_mod, "write_json", full)
    out = gan_run_here(*tiny("dcgan"), "trainer.max_steps=2", f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 2, out.stderr
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("error: ") and "metrics.json: no space left on the device" in line
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == 2


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 400 KB tmpfs (root only; skipped where mounting is not allowed)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", str(mnt)], capture_output=True)


def test_a_real_full_disk_is_one_line_for_each_tool(small_tmpfs, gan_run_here, capfd, tmp_path):
    # dcgan width 8 on 8x8 digits: a checkpoint is ~60 KB, so the 400 KB disk fills within a few checkpoints
    run_dir = small_tmpfs / "run"
    out = gan_run_here(*tiny("dcgan"), "trainer.max_steps=40", "trainer.ckpt_every=1", "trainer.sample_every=1000",
                       f"hydra.run.dir={run_dir}")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "no space left" in out.stderr.lower() or "No space left" in out.stderr
    last = load_checkpoint(run_dir / "checkpoints" / "last.pt")  # the earlier checkpoints are intact
    for path in (run_dir / "checkpoints").glob("*.pt"):
        load_checkpoint(path)
    assert last["step"] >= 1
    from gan_runner.cli.sample import main as sample_main

    filler = small_tmpfs / "filler"
    filler.write_bytes(b"\0" * (shutil.disk_usage(small_tmpfs).free - 4096))
    capfd.readouterr()
    with pytest.raises(SystemExit) as info:
        sample_main([str(run_dir), "--out", str(small_tmpfs / "s.npz"), "--num", "2000", "--quiet"])
    err = capfd.readouterr().err
    assert info.value.code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    with open(small_tmpfs / "filler2", "wb") as f:  # nothing left at all: Hydra's own .hydra/ write fails
        try:
            f.write(b"\0" * shutil.disk_usage(small_tmpfs).free)
        except OSError:
            pass
    out = gan_run_here(*tiny("dcgan"), f"hydra.run.dir={small_tmpfs / 'run2'}")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "no space left" in out.stderr


def test_a_second_writer_in_a_busy_run_dir_is_refused_naming_the_holder(tmp_path, gan_run_here):
    run_dir = tmp_path / "run"
    proc = start_cli(run_dir, "trainer.ckpt_every=5")
    try:
        for args in ([], ["trainer.resume=auto"]):
            out = gan_run_here(*tiny("dcgan"), *args, f"hydra.run.dir={run_dir}")
            assert out.returncode == 2, out.stderr
            [line] = out.stderr.strip().splitlines()
            assert f"is in use by another gan-run (pid {proc.pid})" in line
        assert proc.poll() is None, "the first run goes on"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGINT, err
    finally:
        proc.kill()
    steps = [e.step for e in EventAccumulator(str(run_dir / "tb")).Reload().Scalars("loss/d")]
    assert len(steps) == len(set(steps)), "one writer: no step logged twice"
    again = gan_run_here(*tiny("dcgan"), "trainer.resume=auto", f"trainer.max_steps={max(steps) + 2}", f"hydra.run.dir={run_dir}")
    assert again.returncode == 0, again.stderr  # the lock died with its holder


def test_run_dir_lock_is_released_when_its_holder_is_killed(tmp_path):
    from gan_runner.training.run_lock import RunDirLock

    code = (f"from gan_runner.training.run_lock import RunDirLock; import time; RunDirLock({str(tmp_path)!r}).acquire(); "
            "print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(UserError, match=f"pid {holder.pid}"):
        RunDirLock(tmp_path).acquire()
    holder.kill()
    holder.wait()
    with RunDirLock(tmp_path):  # kill -9 released it
        pass
    assert not (tmp_path / ".gan-run.lock").exists()


@pytest.mark.parametrize("delay", [0.3, 2.0])  # while Python imports; while gan-run builds
def test_ctrl_c_during_start_up_exits_130_without_a_traceback_and_leaves_nothing(tmp_path, delay):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "gan_runner.cli.train", *tiny("dcgan"), "trainer.max_steps=100000",
                             f"hydra.run.dir={run_dir}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    # 130 from the boundary; -SIGINT where Python itself ended by SIGINT after our one line (still importing)
    assert proc.returncode in (130, -signal.SIGINT), err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err
    if run_dir.exists() and not (run_dir / "metrics.json").exists():  # interrupted before training began
        assert not {"checkpoints", "tb", ".gan-run.lock"} & {p.name for p in run_dir.iterdir()}


def test_rollback_logs_each_step_once_and_skips_blown_up_checkpoints(tmp_path, nan_once_loss, monkeypatch):
    from gan_runner.training import guards

    # step 6's checkpoint is made to look blown up: the rollback at step 7 must return to step 4, not 6
    real = guards.blown_up
    monkeypatch.setattr("gan_runner.training.trainer.blown_up", lambda ck: "huge" if ck["step"] == 6 else real(ck))
    metrics = run(cfg("loss.name=nan_once", "trainer.max_steps=8", "trainer.ckpt_every=2", "trainer.log_every=1",
                      "trainer.on_divergence=rollback"), tmp_path / "run")
    [event] = metrics["rollbacks"]
    assert (event["at_step"], event["to_step"]) == (7, 4)
    steps = [e.step for e in EventAccumulator(str(tmp_path / "run" / "tb")).Reload().Scalars("loss/d")]
    assert steps == list(range(1, 9)), "steps 5-6 logged before the rollback are purged, not duplicated"


def test_blown_up_names_huge_or_non_finite_weights():
    from gan_runner.training.guards import blown_up

    assert blown_up({"G": {"w": torch.ones(3)}, "D": {"w": torch.ones(3)}}) is None
    assert "1e+09" in blown_up({"G": {"w": torch.full((3,), 1e9)}, "D": {}})
    assert "nan" in blown_up({"G": {}, "D": {"b": torch.tensor([float("nan")])}})
