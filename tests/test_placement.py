"""Placements (device / host / stream from a memory map) give bitwise-identical batches; xflip resumes exactly."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gan_runner.data import BatchStream, DataSpec, InMemoryData, build_stream, placement
from gan_runner.data.cache import PreparedWriter, open_prepared
from gan_runner.errors import ConfigError

CPU = torch.device("cpu")
ONE = SimpleNamespace(rank=0, world_size=1)


@pytest.fixture
def mapped(tmp_path: Path) -> InMemoryData:
    """A prepared folder of 50 random 3x8x8 images with labels, memory-mapped."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8, generator=gen)
    writer = PreparedWriter(tmp_path / "ready", tuple(x.shape))
    for i in range(0, 50, 16):  # chunk by chunk, as preparation writes
        writer.write(x[i : i + 16].numpy())
    labels = (torch.arange(50) % 4).tolist()
    writer.commit({"key": "k", "source": "test", "labels": labels, "num_classes": 4}, 50)
    data = open_prepared(tmp_path / "ready", "t")
    assert data.mapped and torch.equal(data.x, x)
    return data


def batches(stream: BatchStream, n: int) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    return [stream.next() for _ in range(n)]


def assert_same(a: list, b: list) -> None:
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.equal(xa, xb) and xa.dtype == xb.dtype
        assert (ya is None and yb is None) or torch.equal(ya, yb)


@pytest.mark.parametrize("xflip", [False, True])
def test_every_placement_gives_identical_batches(mapped: InMemoryData, xflip: bool,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(placement, "READ_PIECE", 1000)  # device/host read the file in pieces of 5 images
    runs = {}
    for where in ("device", "host", "stream"):
        cfg = {"placement": where, "xflip": xflip}
        stream = build_stream(mapped, cfg, batch_size=8, seed=5, ranks=ONE, device=CPU, channels_last=True)
        assert stream.batch_size == 8 and stream.data.spec == mapped.spec
        assert stream.data.mapped == (where == "stream")  # device and host hold a resident copy, not the map
        if where != "stream":  # read from the file, piece by piece
            assert torch.equal(stream.data.x, mapped.x)
        runs[where] = batches(stream, 15)  # 6 batches per epoch: crosses two epoch boundaries
        assert all(x.is_contiguous(memory_format=torch.channels_last) for x, _ in runs[where])  # the model's layout
    # today's path: the whole array in memory, the plain stream
    plain = BatchStream(InMemoryData(mapped.x.clone(), mapped.y, mapped.spec), 8, 5, xflip=xflip)
    assert_same(runs["device"], batches(plain, 15))
    assert_same(runs["device"], runs["host"])
    assert_same(runs["device"], runs["stream"])
    assert runs["stream"][0][0].min() >= -1 and runs["stream"][0][0].max() <= 1


def test_xflip_off_keeps_todays_order_and_on_flips_about_half(mapped: InMemoryData) -> None:
    data = InMemoryData(mapped.x.clone(), mapped.y, mapped.spec)
    plain, flipped = BatchStream(data, 8, 1), BatchStream(data, 8, 1, xflip=True)
    x0, _ = plain.next()
    x1, _ = flipped.next()  # first batch: same permutation, only the flips differ
    same = [(a == b).all().item() for a, b in zip(x0, x1)]
    mirrored = [(a.flip(-1) == b).all().item() for a, b in zip(x0, x1)]
    assert all(s or m for s, m in zip(same, mirrored)) and any(mirrored) and any(same)
    many = BatchStream(data, 8, 2, xflip=True)
    flips = torch.cat([many._plan()[1] for _ in range(200)]).float().mean()
    assert 0.4 < flips < 0.6


@pytest.mark.parametrize(("first", "second"), [("stream", "stream"), ("stream", "device"), ("device", "host")])
def test_resume_mid_prefetch_is_exact_across_placements(mapped: InMemoryData, first: str, second: str) -> None:
    a = build_stream(mapped, {"placement": first, "xflip": True}, 8, 3, ONE, CPU)
    batches(a, 4)  # on a GPU the stream placement would have gathered batches 5 and 6 ahead by now (next test)
    state = a.state_dict()
    want = batches(a, 10)
    b = build_stream(mapped, {"placement": second, "xflip": True}, 8, 999, ONE, CPU)
    batches(b, 2)
    b.load_state_dict(state)
    assert_same(batches(b, 10), want)


def test_gather_ahead_only_for_a_gpu_and_a_prefetching_stream_resumes_exactly(mapped: InMemoryData) -> None:
    # On the CPU there is no copy to overlap, and the extra thread slowed training (docs/BENCHMARKS.md);
    # a GPU run gathers ahead in a thread, which must not change the batches or their resume.
    assert placement.ahead(CPU, 2) == 0 and placement.ahead(torch.device("cuda"), 2) == 2
    assert build_stream(mapped, {"placement": "stream"}, 8, 3, ONE, CPU).prefetch == 0
    ahead = BatchStream(mapped, 8, 3, xflip=True, device=CPU, prefetch=2)
    plain = BatchStream(mapped, 8, 3, xflip=True)
    assert_same(batches(ahead, 4), batches(plain, 4))
    assert len(ahead._pending) == 2  # batches 5 and 6 are being gathered already
    state = ahead.state_dict()
    want = batches(plain, 10)
    resumed = BatchStream(mapped, 8, 999, xflip=True, device=CPU, prefetch=2)
    resumed.load_state_dict(state)
    assert_same(batches(resumed, 10), want)
    assert_same(batches(ahead, 10), want)


def test_ranks_slice_the_same_global_batches(mapped: InMemoryData) -> None:
    whole = BatchStream(mapped, 8, 4, xflip=True)
    ranks = [build_stream(mapped, {"placement": "stream", "xflip": True}, 4, 4, SimpleNamespace(rank=r, world_size=2),
                          CPU) for r in (0, 1)]
    # flips are drawn per global batch, so a rank's flips are its slice of what one process would draw
    w_idx, w_flip = whole._plan()
    for r, s in enumerate(ranks):
        idx, flip = s._plan()
        assert torch.equal(idx, w_idx[4 * r : 4 * r + 4]) and torch.equal(flip, w_flip[4 * r : 4 * r + 4])


def test_auto_placement_follows_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(placement, "available_ram", lambda: 1000)
    assert placement.resolve_placement("auto", 400, CPU) == "device"
    assert placement.resolve_placement("auto", 600, CPU) == "stream"  # over HOST_BUDGET (half of RAM)
    assert placement.resolve_placement("host", 10**12, CPU) == "host"
    with pytest.raises(ConfigError, match="dataset.placement must be one of"):
        placement.resolve_placement("gpu", 1, CPU)


def test_bad_options_are_config_errors(mapped: InMemoryData) -> None:
    vectors = InMemoryData(torch.zeros(20, 2), None, DataSpec("ring8", (2,), None, False))
    with pytest.raises(ConfigError, match="xflip=true needs images"):
        build_stream(vectors, {"xflip": True}, 4, 0, ONE, CPU)
    with pytest.raises(ConfigError, match="xflip must be true or false"):
        build_stream(mapped, {"xflip": "yes"}, 4, 0, ONE, CPU)
    digits = InMemoryData(mapped.x, mapped.y, DataSpec("mnist_5k", (3, 8, 8), 4, True, flippable=False))
    with pytest.raises(ConfigError, match="would mirror the samples"):
        build_stream(digits, {"xflip": True}, 4, 0, ONE, CPU)
    with pytest.raises(ConfigError, match="placement must be one of"):
        build_stream(mapped, {"placement": "disk"}, 4, 0, ONE, CPU)
    assert np.asarray(mapped.x).flags.writeable  # copy-on-write map: torch gets a writable view, no warning


@pytest.mark.slow  # two 20-step runs through build_trainer: ~20 s on an idle 2-core machine
def test_twenty_training_steps_are_identical_in_memory_and_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    compose_cfg) -> None:
    from PIL import Image

    from gan_runner.run import build_trainer

    monkeypatch.setenv("GAN_RUNNER_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "imgs"
    src.mkdir()
    gen = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(gen.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(src / f"{i:02d}.png")
    weights = {}
    for where in ("device", "stream"):
        cfg = compose_cfg("dataset=image_folder", f"dataset.root={src}", "dataset.image_size=16", "dataset.batch_size=8",
                          f"dataset.placement={where}", "dataset.xflip=true", "dataset.workers=1", "model.width=4",
                          "model.z_dim=8", "trainer.max_steps=20", "trainer.device=cpu", "trainer.precision=fp32",
                          "trainer.quiet=true", "stabilize.r1=0")
        trainer = build_trainer(cfg, tmp_path / where)
        trainer.train()
        weights[where] = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    for k, v in weights["device"].items():
        assert torch.equal(v, weights["stream"][k]), k
