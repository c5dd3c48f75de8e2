"""CUDA checks (`pytest -m gpu` on a GPU machine; skipped where there is no CUDA, as in CI).

Each system trains on the GPU with finite losses; the speed paths (bf16, channels_last, compile)
and the stabilizers run there; checkpoints cross between GPU and CPU; resume on the GPU is exact.
"""
from __future__ import annotations

import math

import pytest
import torch

from gan_runner.run import run

from conftest import tiny

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

SYSTEMS = [("gan", "minimax"), ("cgan", "ns"), ("dcgan", "ns"), ("acgan", "ns"), ("infogan", "ns"),
           ("dcgan", "wgan"), ("dcgan", "wgan_gp"), ("sngan", "hinge")]


def cuda_cfg(compose_cfg, model: str, *extra: str):
    return compose_cfg(*tiny(model), "trainer.device=cuda", "trainer.max_steps=20", "trainer.log_every=5", *extra)


def finite_final(metrics: dict) -> bool:
    return metrics["status"] == "completed" and all(math.isfinite(v) for v in metrics["final"].values())


@pytest.mark.parametrize("model,loss", SYSTEMS)
def test_each_system_trains_on_cuda_with_finite_losses(compose_cfg, tmp_path, model, loss):
    metrics = run(cuda_cfg(compose_cfg, model, f"loss={loss}"), tmp_path)
    assert finite_final(metrics) and metrics["device"].startswith("cuda")


@pytest.mark.parametrize("extra", [["stabilize.r1=1", "stabilize.r2=1", "stabilize.reg_every=2"],
                                   ["stabilize.diffaugment=[color,translation,cutout]"], ["stabilize.unroll=2"],
                                   ["trainer.ema=0.99"], ["trainer.precision=bf16"], ["trainer.channels_last=true"],
                                   ["trainer.compile=true", "stabilize.r1=0"]])
def test_stabilizers_and_speed_paths_run_on_cuda(compose_cfg, tmp_path, extra):
    assert finite_final(run(cuda_cfg(compose_cfg, "dcgan", *extra), tmp_path))


def test_a_gpu_checkpoint_loads_on_cpu_and_a_cpu_one_on_the_gpu(compose_cfg, tmp_path):
    from gan_runner.generation.loading import load_run

    run(cuda_cfg(compose_cfg, "dcgan"), tmp_path / "gpu")
    assert next(load_run(tmp_path / "gpu", torch.device("cpu")).model.parameters()).device.type == "cpu"
    run(compose_cfg(*tiny("dcgan"), "trainer.device=cpu", "trainer.max_steps=4"), tmp_path / "cpu")
    assert next(load_run(tmp_path / "cpu", torch.device("cuda")).model.parameters()).device.type == "cuda"


def test_resume_on_cuda_matches_an_uninterrupted_run(compose_cfg, tmp_path):
    """Within float tolerance: cuDNN picks kernels per run unless torch.use_deterministic_algorithms is on."""
    run(cuda_cfg(compose_cfg, "dcgan", "trainer.max_steps=6", "trainer.ckpt_every=3", "trainer.deterministic=true"), tmp_path / "a")
    run(cuda_cfg(compose_cfg, "dcgan", "trainer.max_steps=3", "trainer.ckpt_every=3", "trainer.deterministic=true"), tmp_path / "b")
    run(cuda_cfg(compose_cfg, "dcgan", "trainer.max_steps=6", "trainer.ckpt_every=3", "trainer.deterministic=true",
                 f"trainer.resume={tmp_path / 'b'}"), tmp_path / "b")
    a = torch.load(tmp_path / "a" / "checkpoints" / "last.pt", weights_only=True, map_location="cpu")
    b = torch.load(tmp_path / "b" / "checkpoints" / "last.pt", weights_only=True, map_location="cpu")
    for k in a["G"]:
        torch.testing.assert_close(a["G"][k], b["G"][k], rtol=1e-5, atol=1e-6, msg=k)
