"""Data-parallel training (torchrun, gloo on CPU): one run dir, disjoint shards, identical weights, shared decisions."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from test_resume import assert_same_state

from gan_runner.data.base import BatchStream, DataSpec, InMemoryData
from gan_runner.errors import ConfigError
from gan_runner.training import distributed
from gan_runner.training.distributed import Ranks

from conftest import tiny

WORLD = 2
SETTINGS = [*tiny("dcgan"), "trainer.max_steps=20", "trainer.ckpt_every=5", "trainer.sample_every=10"]


# ------------------------------------------------------------------------------ no processes
def test_rank_slices_tile_the_single_process_batch():
    data = InMemoryData(torch.arange(40, dtype=torch.float32).reshape(40, 1), None, DataSpec("v", (1,), None, False))
    whole = BatchStream(data, 8, seed=3)
    ranks = [BatchStream(data, 4, seed=3, rank=r, world_size=2) for r in range(2)]
    for _ in range(12):  # past two epoch ends (5 global batches per epoch)
        parts = [s.next()[0] for s in ranks]
        torch.testing.assert_close(torch.cat(parts), whole.next()[0])
        assert not set(parts[0].flatten().tolist()) & set(parts[1].flatten().tolist())
    assert_same_state(ranks[0].state_dict(), ranks[1].state_dict())  # one state resumes every rank


def test_global_batch_larger_than_the_dataset_is_a_config_error():
    data = InMemoryData(torch.zeros(10, 1), None, DataSpec("v", (1,), None, False))
    with pytest.raises(ConfigError, match=r"batch_size=8 x 2 processes"):
        BatchStream(data, 8, seed=0, rank=0, world_size=2)


def test_rank_overrides_and_devices():
    argv = ["model=dcgan"]
    assert distributed.rank_overrides(argv, Ranks()) == argv
    assert distributed.rank_overrides(argv, Ranks(0, 2)) == argv
    assert "hydra.output_subdir=null" in distributed.rank_overrides(argv, Ranks(1, 2))
    with pytest.raises(ConfigError, match="one torchrun per run"):
        distributed.rank_overrides(["-m", "seed=0,1"], Ranks(0, 2))
    assert distributed.rank_device(torch.device("cuda"), Ranks(1, 2, 1)) == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match="every process on one GPU"):
        distributed.rank_device(torch.device("cuda", 0), Ranks(1, 2, 1))


# ------------------------------------------------------------------------------- processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha1(t.detach().contiguous().cpu().numpy().tobytes()).hexdigest()


def _worker(rank: int, port: int, out: str) -> None:
    """One rank: a straight run, a run interrupted and resumed, and a run where only this rank sees a NaN."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from hydra import compose, initialize_config_module

    from gan_runner.losses.base import AdversarialLoss
    from gan_runner.run import run
    from gan_runner.training.trainer import Trainer

    def cfg(*extra: str):
        with initialize_config_module("gan_runner.conf", version_base=None):
            return compose("config", overrides=[*SETTINGS, *extra])

    from gan_runner.training.phases import Batches

    seen: dict[str, object] = {}
    for_d, train = Batches.for_d, Trainer.train

    def recording_for_d(self):
        batch = for_d(self)
        seen.setdefault("first_batch", _digest(batch.real))
        seen.setdefault("first_latent", _digest(batch.latent.z))
        return batch

    def capturing_train(self):
        seen["trainer"] = self
        return train(self)

    Batches.for_d, Trainer.train = recording_for_d, capturing_train
    root = Path(out)
    metrics = run(cfg(), root / "straight")
    trainer = seen.pop("trainer")
    result = {"metrics": metrics, "first_batch": seen["first_batch"], "first_latent": seen["first_latent"],
              "G": {k: v.detach().clone() for k, v in trainer.model.G.named_parameters()},
              "D": {k: v.detach().clone() for k, v in trainer.model.D.named_parameters()}}
    Batches.for_d, Trainer.train = for_d, train

    run(cfg("trainer.max_steps=10"), root / "resumed")
    run(cfg(f"trainer.resume={root / 'resumed'}"), root / "resumed")

    run(cfg("trainer.max_steps=4", "trainer.eval_every=2", "eval.periodic_num=100"), root / "evald")

    d_objective, calls = AdversarialLoss.d_objective, [0]

    def nan_on_rank_1(self, *args, **kwargs):  # a NaN statistic on one rank only, gradients untouched
        loss = d_objective(self, *args, **kwargs)
        calls[0] += 1
        if rank == 1 and calls[0] >= 3:
            args[-1].report("loss/d", torch.tensor(float("nan")))  # args[-1]: the stats sink
        return loss

    AdversarialLoss.d_objective = nan_on_rank_1
    result["nan"] = run(cfg(), root / "nan")

    def sigterm_on_rank_1(self, *args, **kwargs):  # a SIGTERM that reaches one rank only
        calls[0] += 1
        if rank == 1 and calls[0] == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return d_objective(self, *args, **kwargs)

    calls[0] = 0
    AdversarialLoss.d_objective = sigterm_on_rank_1
    result["sigterm"] = run(cfg(), root / "sigterm")
    AdversarialLoss.d_objective = d_objective
    torch.save(result, root / f"rank{rank}.pt")


@pytest.fixture(scope="module")
def spawned(tmp_path_factory):
    """Two gloo ranks on CPU running _worker; their results, and the shared output root."""
    root = tmp_path_factory.mktemp("ddp")
    ctx = mp.start_processes(_worker, args=(_free_port(), str(root)), nprocs=WORLD, join=False, start_method="spawn")
    deadline = time.monotonic() + 600  # a rank left waiting on a collective would hang: fail instead
    while not ctx.join(timeout=5):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("data-parallel ranks did not finish (a rank is stuck in a collective)")
    return root, [torch.load(root / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


@pytest.mark.slow  # the spawned ranks take ~25 s on 2 busy cores
def test_ranks_draw_different_data_and_noise_and_end_with_identical_weights(spawned):
    _, (r0, r1) = spawned
    assert r0["first_batch"] != r1["first_batch"]
    assert r0["first_latent"] != r1["first_latent"]
    for net in ("G", "D"):  # averaged gradients keep the weights equal (batch norm statistics stay per rank)
        assert r0[net].keys() == r1[net].keys()
        for name in r0[net]:
            assert torch.equal(r0[net][name], r1[net][name]), f"{net}.{name}"
    assert r0["metrics"]["world_size"] == 2 and r0["metrics"]["status"] == "completed"


@pytest.mark.slow  # the spawned ranks take ~25 s on 2 busy cores
def test_only_rank_0_writes_the_run_dir(spawned):
    root, _ = spawned
    run_dir = root / "straight"
    assert json.loads((run_dir / "metrics.json").read_text())["step"] == 20
    assert len(list((run_dir / "tb").iterdir())) == 1, "one TensorBoard writer"
    ckpt = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert len(ckpt["rng_ranks"]) == 2 and not torch.equal(ckpt["rng_ranks"][0]["torch"], ckpt["rng_ranks"][1]["torch"])


@pytest.mark.slow  # the spawned ranks take ~25 s on 2 busy cores
def test_resume_under_ddp_is_bitwise_identical(spawned):
    root, _ = spawned
    a = torch.load(root / "straight" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(root / "resumed" / "checkpoints" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 20
    for key in ["G", "D", "G_ema", "opt_g", "opt_d", "sched_g", "sched_d", "stream", "rng_ranks"]:
        assert_same_state(a[key], b[key], key)


@pytest.mark.slow  # the spawned ranks take ~25 s on 2 busy cores
def test_a_nan_on_one_rank_stops_every_rank_at_the_same_step(spawned):
    root, (r0, r1) = spawned
    for m in (r0["nan"], r1["nan"]):
        assert m["status"] == "diverged" and m["step"] == 4, m
        assert m["reason"] == "step 4: rank 1: loss/d is nan (non-finite)"
    assert json.loads((root / "nan" / "metrics.json").read_text())["status"] == "diverged"


@pytest.mark.slow  # the spawned ranks take ~25 s on 2 busy cores
def test_evaluation_during_training_runs_on_rank_0_and_every_rank_joins_best_pt(spawned):
    root, _ = spawned
    pe = json.loads((root / "evald" / "metrics.json").read_text())["periodic_eval"]
    assert [h["step"] for h in pe["history"]] == [2, 4] and pe["metrics"] == ["fid"]
    best = torch.load(root / "evald" / "checkpoints" / "best.pt", weights_only=True)
    assert best["step"] == pe["best"]["step"] and len(best["rng_ranks"]) == 2


@pytest.mark.slow  # the spawned ranks take ~25 s on 2 busy cores
def test_sigterm_on_one_rank_stops_every_rank_at_the_next_log_step_with_a_checkpoint(spawned):
    root, (r0, r1) = spawned
    for m in (r0["sigterm"], r1["sigterm"]):  # received during step 3; agreed at the log boundary after step 4
        assert m["status"] == "interrupted" and m["signal"] == signal.SIGTERM and m["step"] == 4, m
    assert torch.load(root / "sigterm" / "checkpoints" / "last.pt", weights_only=True)["step"] == 4


def test_torchrun_cli_agrees_on_one_run_dir(tmp_path):
    # Microseconds in the run dir: without agreement, the two processes would each make their own.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}",
                          "-m", "gan_runner.cli.train", *SETTINGS, "trainer.quiet=false", "hydra.run.dir=outputs/${now:%H-%M-%S-%f}"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    assert [p.name for p in tmp_path.iterdir()] == ["outputs"], "ranks > 0 write nothing (no log file, no .hydra/)"
    (run_dir,) = (tmp_path / "outputs").iterdir()
    assert sorted(p.name for p in run_dir.iterdir()) == [".hydra", "checkpoints", "metrics.json", "samples", "tb", "train.log"]
    assert json.loads((run_dir / "metrics.json").read_text())["world_size"] == 2
    assert out.stdout.count("done: 20 steps") == 1
