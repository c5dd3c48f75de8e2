"""gan-run's fast training path computes what the plain PyTorch DCGAN loop computes.

Same initial weights, same real batches, same noise: the per-step D and G losses and the weights
after a few steps must match bench/plain_dcgan.py (Sigmoid + BCELoss there, logits + softplus here).
"""
from __future__ import annotations

import importlib.util

import pytest
import torch
from hydra import compose, initialize_config_module

from gan_runner.models.base import Latent
from gan_runner.run import build_trainer
from gan_runner.stats import StatsAccumulator

from conftest import REPO, one_iteration


@pytest.fixture(scope="module")
def plain_module():
    spec = importlib.util.spec_from_file_location("plain_dcgan", REPO / "bench" / "plain_dcgan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gan_run_step_equals_the_plain_pytorch_step(tmp_path, plain_module):
    width, nz, batch = 8, 16, 16
    with initialize_config_module("gan_runner.conf", version_base=None):
        cfg = compose("config", overrides=["dataset=digits", "dataset.image_size=32", f"dataset.batch_size={batch}",
                                           f"model.width={width}", f"model.z_dim={nz}", "trainer.ema=0",
                                           "trainer.device=cpu", "trainer.precision=fp32", "trainer.channels_last=false",
                                           "optimizer=adam", "optimizer.schedule=constant",  # the plain loop's Adam 2e-4
                                           "stabilize.r1=0"])  # the plain loop has no R1
    trainer = build_trainer(cfg, tmp_path)
    ours = trainer.model
    torch.manual_seed(0)
    G, D = plain_module.Generator(nz, width), plain_module.Discriminator(width)
    G.apply(plain_module.weights_init)
    D.apply(plain_module.weights_init)
    # Same weights: our G has a leading Unflatten; our D's last 4x4 conv is a bias-free Linear on flattened features.
    ours.G.net.load_state_dict({f"{int(k.split('.')[0]) + 1}.{k.split('.', 1)[1]}": v for k, v in G.main.state_dict().items()})
    d_state = {f"body.{k}": v for k, v in D.main.state_dict().items() if not k.startswith("8.")}
    d_state["head.weight"] = D.main[8].weight.reshape(1, -1)
    ours.D.load_state_dict(d_state)
    optD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    criterion = torch.nn.BCELoss()

    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        real = torch.rand(batch, 1, 32, 32, generator=g) * 2 - 1
        noise = torch.randn(batch, nz, generator=g)
        # the plain example's iteration
        D.zero_grad()
        err_real = criterion(D(real), torch.ones(batch))
        err_real.backward()
        fake = G(noise.view(batch, nz, 1, 1))
        err_fake = criterion(D(fake.detach()), torch.zeros(batch))
        err_fake.backward()
        optD.step()
        G.zero_grad()
        err_g = criterion(D(fake), torch.ones(batch))
        err_g.backward()
        optG.step()
        # gan-run's iteration on the same batch and noise
        stats = StatsAccumulator()
        one_iteration(trainer, real, None, Latent(noise), stats)
        values = stats.pop()
        assert values["loss/d"] == pytest.approx((err_real + err_fake).item(), rel=1e-5)
        assert values["loss/g"] == pytest.approx(err_g.item(), rel=1e-5)
    for (name, p), q in zip(G.main.named_parameters(), ours.G.net.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-6, msg=name)
    torch.testing.assert_close(ours.D.head.weight, D.main[8].weight.reshape(1, -1), rtol=1e-4, atol=1e-6)


def _trainer(tmp_path, *extra):
    with initialize_config_module("gan_runner.conf", version_base=None):
        cfg = compose("config", overrides=["dataset=digits", "dataset.image_size=16", "dataset.batch_size=32",
                                           "model.width=8", "trainer.device=cpu", "trainer.precision=fp32",
                                           "trainer.channels_last=false", *extra])
    return build_trainer(cfg, tmp_path)


@pytest.mark.parametrize("option,rel", [("trainer.channels_last=true", 1e-4), ("trainer.precision=bf16", 5e-2)])
def test_speed_options_compute_the_same_losses(tmp_path, option, rel):
    assert_same_losses(_trainer(tmp_path / "a"), _trainer(tmp_path / "b", option), rel)


def assert_same_losses(base, fast, rel: float, layout: torch.memory_format = torch.channels_last) -> None:
    """Three k=1 updates of both trainers on identical batches (in `layout` for `fast`) and noise: equal losses."""
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        real = torch.rand(32, 1, 16, 16, generator=g) * 2 - 1
        latent = Latent(torch.randn(32, 100, generator=g))
        s_base, s_fast = StatsAccumulator(), StatsAccumulator()
        one_iteration(base, real, None, latent, s_base)
        one_iteration(fast, real.contiguous(memory_format=layout), None, latent, s_fast)
        a, b = s_base.pop(), s_fast.pop()
        assert b["loss/d"] == pytest.approx(a["loss/d"], rel=rel) and b["loss/g"] == pytest.approx(a["loss/g"], rel=rel)


def test_auto_precision_keeps_2d_data_in_fp32(tmp_path):
    with initialize_config_module("gan_runner.conf", version_base=None):
        cfg = compose("config", overrides=["experiment=ring8", "trainer.precision=auto", "trainer.device=cpu"])
    assert build_trainer(cfg, tmp_path).opts.precision == "fp32"


@pytest.mark.parametrize("env, flags, expected", [
    ({}, "fpu avx2 avx512f amx_bf16 avx512_bf16", "bf16"),
    ({}, "fpu avx2 fma", "fp32"),                                   # an AVX2-only EPYC
    ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, "fpu avx2 amx_bf16", "fp32"),    # bench/ standing in for one on an AMX CPU
    ({"ONEDNN_MAX_CPU_ISA": "avx512_core_amx"}, "fpu amx_bf16", "bf16"),
    ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, "fpu avx512_bf16", "fp32"),
])
def test_auto_precision_follows_cpu_flags_and_isa_caps(monkeypatch, tmp_path, env, flags, expected):
    """bf16 only where oneDNN may run it natively: emulated bf16 ran the default job at 0.26 it/s, fp32 at 4.5."""
    from gan_runner import devices

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    real_path = devices.Path
    monkeypatch.setattr(devices, "Path", lambda p: real_path(cpuinfo) if p == "/proc/cpuinfo" else real_path(p))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    chosen, why = devices.precision_note(torch.device("cpu"), is_image=True)
    assert chosen == expected and why
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")  # ATEN_CPU_CAPABILITY=avx2
    assert devices.precision_note(torch.device("cpu"), is_image=True)[0] == "fp32"
    assert devices.precision_note(torch.device("cpu"), is_image=False)[0] == "fp32"
