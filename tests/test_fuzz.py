"""Property-based fuzz (Hypothesis, bounded): whatever the overrides or input files, every tool ends in exit 0
or exit 2 with at most a couple of stderr lines and no traceback, and a failed gan-run writes no checkpoints.

Values are drawn where they break things: tiny, negative, beyond 64 bits, non-finite, empty, very long,
text Hydra's grammar may reject. Sizes stay small where they are valid (a valid width of 3,000 would
just train slowly), and huge where they are not.
"""
from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gan_runner.run import run

from conftest import call_main, tiny

# Bounded: a fixed number of examples, a deadline per example, no shrinking (a failure reports the example as drawn,
# instead of minutes spent minimizing it); derandomized, so the suite is repeatable.
# GAN_RUNNER_FUZZ=N: N random examples per test instead (a longer hunt, e.g. before a release).
LONG_HUNT = int(os.environ.get("GAN_RUNNER_FUZZ", "0"))
FUZZ = settings(max_examples=LONG_HUNT or 20, deadline=60_000, derandomize=not LONG_HUNT, database=None,
                phases=[Phase.explicit, Phase.generate], print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

KEYS = ["model.width", "model.z_dim", "dataset.image_size", "dataset.batch_size", "seed", "trainer.max_steps",
        "optimizer.lr_g", "trainer.n_critic", "trainer.ema", "trainer.resume", "dataset.root", "model.d_norm",
        "loss.label_smoothing", "trainer.grid_size", "stabilize.r1", "trainer.log_every", "+model.extra", "dataset"]
VALUES = st.one_of(
    st.integers(-3, 12).map(str),
    st.integers(2**63 - 2, 2**70).map(str),
    st.just("9" * 5000),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "null", "true", "[]", "[1, 2]", "{a: 1}", "${nosuch.key}", "a" * 5000, "/", ".", "auto",
                     "image_folder", "digits", "ring8", "'quoted'", "\\"]),
    st.text(alphabet="abc019-_./ ,:[]{}$\"'=", max_size=20),
)
OVERRIDES = st.lists(st.tuples(st.sampled_from(KEYS), VALUES), min_size=1, max_size=3)


def check_outcome(code: int, err: str, allowed: tuple[int, ...] = (0, 2)) -> None:
    assert code in allowed, err
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) <= 2, err  # one error line (a warning may precede it)


@settings(FUZZ, max_examples=LONG_HUNT or 12)
@given(overrides=OVERRIDES)
def test_gan_run_overrides(gan_run_here, tmp_path_factory, overrides):
    tmp = tmp_path_factory.mktemp("fuzz_run")
    args = [f"{k}={v}" for k, v in overrides]
    base = [o for o in tiny("dcgan") if o.split("=")[0] not in {k.lstrip("+") for k, _ in overrides}]
    out = gan_run_here(*base, "trainer.max_steps=2", *args, f"hydra.run.dir={tmp / 'run'}", cwd=tmp)
    check_outcome(out.returncode, out.stderr, (0, 2, 3))  # 3: a learning rate of 1e308 diverges, and says so
    if out.returncode == 2:
        assert not (tmp / "run" / "checkpoints").exists(), out.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz_trained")
    with initialize_config_module("gan_runner.conf", version_base=None):
        run(compose("config", overrides=[*tiny("dcgan"), "trainer.max_steps=2"]), root / "run")
    return root / "run"


JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-2, 2**70) | st.floats() | st.text(max_size=8),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                       max_leaves=8)
CKPT_KEYS = ["format", "step", "G", "D", "G_ema", "config", "spec", "opt_g", "stream", "rng"]
_counter = itertools.count()


@FUZZ
@given(data=st.data())
def test_checkpoint_files(trained, tmp_path_factory, capfd, data):
    """Random bytes, a real checkpoint truncated or with bytes flipped, or with a key (or a config entry) replaced."""
    from gan_runner.cli.sample import main

    tmp = tmp_path_factory.mktemp("fuzz_ckpt")
    real = (trained / "checkpoints" / "last.pt").read_bytes()
    kind = data.draw(st.sampled_from(["bytes", "truncated", "flipped", "key", "config"]))
    path = tmp / "ckpt.pt"
    if kind == "bytes":
        path.write_bytes(data.draw(st.binary(max_size=300)))
    elif kind == "truncated":
        path.write_bytes(real[: data.draw(st.integers(0, len(real) - 1))])
    elif kind == "flipped":
        at = data.draw(st.integers(0, len(real) - 1))
        path.write_bytes(real[:at] + bytes([real[at] ^ 0xFF]) + real[at + 1:])
    else:
        ckpt = torch.load(trained / "checkpoints" / "last.pt", weights_only=True)
        if kind == "key":
            ckpt[data.draw(st.sampled_from(CKPT_KEYS))] = data.draw(JSONISH)
        else:
            section = data.draw(st.sampled_from(["model", "dataset"]))
            ckpt["config"][section][data.draw(st.sampled_from(["name", "width", "z_dim", "image_size", "download", "root"]))] = \
                data.draw(JSONISH)
            ckpt.pop("spec") if data.draw(st.booleans()) else None
        torch.save(ckpt, path)
    code, err = call_main(main, [str(path), "--grid", str(tmp / "g.png"), "--grid-size", "4", "--quiet"], capfd)
    check_outcome(code, err)
    assert {p.name for p in tmp.iterdir()} <= {"ckpt.pt", "g.png"}, "nothing written but the picture asked for"


@FUZZ
@given(metrics=JSONISH, overrides=st.one_of(st.none(), st.text(max_size=40), JSONISH.map(json.dumps)))
def test_report_inputs(tmp_path_factory, capfd, metrics, overrides):
    from gan_runner.cli.report import main

    run_dir = tmp_path_factory.mktemp("fuzz_report") / f"run{next(_counter)}"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    if overrides is not None:
        (run_dir / ".hydra" / "overrides.yaml").write_text(overrides)
    code, err = call_main(main, [str(run_dir), "--no-plot"], capfd)
    check_outcome(code, err)


@FUZZ
@given(labels=st.lists(JSONISH, min_size=1, max_size=3), text=st.one_of(st.none(), st.text(max_size=30)))
def test_dataset_folder_labels(tmp_path_factory, capfd, labels, text):
    """gan-prepare on a folder whose dataset.json holds arbitrary labels (or arbitrary text)."""
    from PIL import Image

    from gan_runner.cli.prepare import main

    tmp = tmp_path_factory.mktemp("fuzz_folder")
    src = tmp / "src"
    src.mkdir()
    for i in range(len(labels)):
        Image.new("L", (6, 6), i * 50).save(src / f"{i}.png")
    doc = text if text is not None else json.dumps({"labels": [[f"{i}.png", v] for i, v in enumerate(labels)]})
    (src / "dataset.json").write_text(doc)
    code, err = call_main(main, [str(src), "--out", str(tmp / "out"), "--image-size", "8", "--channels", "1",
                                 "--workers", "1", "--quiet"], capfd)
    check_outcome(code, err)
