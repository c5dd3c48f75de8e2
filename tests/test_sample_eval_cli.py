"""gan-sample and gan-eval as a user runs them: on tiny trained runs, for success and for bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from PIL import Image

from gan_runner.cli import eval as eval_cli
from gan_runner.cli import sample as sample_cli
from gan_runner.run import run

from conftest import tiny


def cli(module: str, *args: str, cache: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """python -m gan_runner.<module> ARGS in a subprocess, with the feature-net cache under tmp."""
    # One intra-op thread: 8x8 problems gain nothing from two, and on a busy 2-core box OpenMP barriers
    # with a descheduled second thread made the feature-net training 30x slower.
    env = {**os.environ, "GAN_RUNNER_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", f"gan_runner.{module}", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny problems run best on one thread


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Tiny trained runs on 8x8 digits: dcgan, cgan (labels) and infogan (codes)."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for model in ("dcgan", "cgan", "infogan"):
        with initialize_config_module("gan_runner.conf", version_base=None):
            cfg = compose("config", overrides=tiny(model) + ["trainer.max_steps=2", "trainer.sample_every=2"])
        run(cfg, root / model)
        out[model] = root / model
    return out


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_gan_sample_writes_uint8_npz_and_pngs(runs, cache, tmp_path):
    out = cli("cli.sample", str(runs["dcgan"]), "--num", "37", "--out", "s.npz", "--grid", "g/grid.png",
              "--interpolate", "--traverse", "--device", "cpu", cache=cache, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    with np.load(tmp_path / "s.npz") as z:
        assert z["images"].dtype == np.uint8 and z["images"].shape == (37, 1, 8, 8)
        assert "labels" not in z.files
    for name in ("grid.png", "grid_interpolate.png", "grid_traverse_z.png"):
        assert Image.open(tmp_path / "g" / name).size[0] > 8, name
    assert "sampling: 37/37" in out.stderr  # progress on stderr, results on stdout
    assert "wrote s.npz" in out.stdout


def test_gan_sample_conditional_labels_and_per_class_rows(runs, cache, tmp_path):
    out = cli("cli.sample", str(runs["cgan"] / "checkpoints" / "last.pt"), "--num", "20", "--out", "c.npz",
              "--grid", "c.png", "--per-class", "--no-ema", "--quiet", cache=cache, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    with np.load(tmp_path / "c.npz") as z:
        assert z["images"].shape == (20, 1, 8, 8) and z["labels"].shape == (20,) and z["labels"].max() <= 9
    w, h = Image.open(tmp_path / "c_per_class.png").size
    assert h == 10 * 10 + 2  # ten class rows of 8 px images with 2 px padding
    margin = 6 * len("y=9") + 6  # grids.label_rows: a left margin wide enough for the longest row label
    assert (w - margin - 2) % 10 == 0 and (w - 2) % 10 != 0  # columns of 8 px images + 2 px padding, after the margin
    assert (np.asarray(Image.open(tmp_path / "c_per_class.png").convert("L"))[:, :margin] < 128).any()  # y=0 ... y=9
    assert out.stderr == ""


def test_gan_eval_prints_table_and_writes_eval_json(runs, cache, tmp_path):
    out = cli("cli.eval", str(runs["dcgan"]), "--num", "300", "--metrics", "fid,kid,is,pr,dc,parzen",
              "--device", "cpu", cache=cache, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for key in ("fid", "kid", "is ", "precision", "recall", "density", "coverage", "parzen_ll"):
        assert key in out.stdout, key
    assert "held-out accuracy" in out.stdout
    record = json.loads((runs["dcgan"] / "eval.json").read_text())
    assert record["num"] == 300 and record["step"] == 2
    assert set(record["metrics"]) >= {"fid", "kid", "kid_std", "is", "precision", "recall", "density", "coverage", "parzen_ll"}
    assert record["feature_space"]["heldout_accuracy"] > 0.9
    assert "two halves" in record["notes"]["parzen"]  # digits has no official test split
    assert list(cache.glob("features/digits_*.pt")), "the feature net is cached under GAN_RUNNER_CACHE"


def test_gan_eval_conditional_and_infogan_defaults_in_process(runs, cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GAN_RUNNER_CACHE", str(cache))
    for model, key in (("cgan", "class_accuracy"), ("infogan", "purity")):
        with pytest.raises(SystemExit) as e:
            eval_cli.main([str(runs[model]), "--num", "200", "--quiet", "--json", str(tmp_path / f"{model}.json")])
        assert e.value.code == 0, capsys.readouterr().err
        record = json.loads((tmp_path / f"{model}.json").read_text())
        assert 0.0 <= record["metrics"][key] <= 1.0
        assert record["metrics_requested"][:6] == ["fid", "kid", "is", "pr", "dc", "parzen"]


def _loaded(runs):
    from gan_runner.data import build_dataset
    from gan_runner.generation.loading import load_run

    run_ = load_run(runs["dcgan"])
    return run_, build_dataset(run_.config["dataset"])


def test_streamed_evaluation_equals_the_in_memory_computation(runs, cache, tmp_path):
    from gan_runner.generation.sampling import generate
    from gan_runner.metrics import density_coverage, fid_from_features, inception_score_from_logits, kid_from_features, precision_recall
    from gan_runner.metrics.evaluate import evaluate_run
    from gan_runner.metrics.features import feature_space_for

    run_, data = _loaded(runs)
    ev = evaluate_run(run_, data, ["fid", "kid", "is", "pr", "dc"], num=300, batch_size=64, cache_dir=cache / "features",
                      stats_dir=False, work_dir=tmp_path)
    with pytest.raises(RuntimeError, match="does not list reads"):
        _ = ev.ctx.fake.x  # the samples were streamed, not kept: no metric asked for them
    assert list(tmp_path.iterdir()) == []  # the feature files leave nothing behind
    fake = generate(run_, 300, batch_size=64).x  # the in-memory path: all samples, then all features
    space = feature_space_for(data, run_.config["dataset"], cache_dir=cache / "features")
    (fr, lr), (ff, lf) = space.embed(data.x[ev.ctx.real_index()]), space.embed(fake)
    kid, kid_std = kid_from_features(fr, ff, seed=0)
    precision, recall = precision_recall(fr, ff)
    density, coverage = density_coverage(fr, ff)
    want = {"fid": fid_from_features(fr, ff), "kid": kid, "kid_std": kid_std, "precision": precision,
            "recall": recall, "density": density, "coverage": coverage,
            "is": inception_score_from_logits(lf, seed=0)[0], "is_real": inception_score_from_logits(lr, seed=0)[0]}
    assert {k: ev.results[k] for k in want} == pytest.approx(want, rel=1e-5, abs=1e-9)


def test_second_evaluation_reads_the_real_statistics_from_the_cache(runs, cache, tmp_path, monkeypatch):
    import gan_runner.metrics.context as context
    from gan_runner.metrics.evaluate import evaluate_run

    run_, data = _loaded(runs)
    labels, stream = [], context.stream
    monkeypatch.setattr(context, "stream", lambda *a, **k: labels.append(k["label"]) or stream(*a, **k))
    stats = tmp_path / "stats"

    def fid(**kw):
        return evaluate_run(run_, data, ["fid"], num=200, cache_dir=cache / "features", stats_dir=stats,
                            work_dir=tmp_path, **kw)

    first = fid().results["fid"]
    assert fid().results["fid"] == pytest.approx(first, rel=1e-12) and labels.count("features (real)") == 1
    entry, = stats.glob("digits_*.npz")
    entry.write_bytes(entry.read_bytes()[:100])  # truncated: ignored, recomputed, rewritten
    assert fid().results["fid"] == pytest.approx(first, rel=1e-12) and labels.count("features (real)") == 2
    every = fid(num_real=len(data))  # --num-real all: the whole training set, its own entry
    assert every.ctx.num_real_used() == len(data) and len(list(stats.glob("digits_*.npz"))) == 2
    assert labels.count("features (real)") == 3 and labels.count("sampling + features") == 4


def test_feature_files_too_big_for_the_disk_are_one_line_before_sampling(runs, cache, tmp_path, monkeypatch, capsys):
    import shutil

    from gan_runner.metrics import evaluate

    monkeypatch.setenv("GAN_RUNNER_CACHE", str(cache))
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(2**40, 2**40 - 2**20, 2**20))
    monkeypatch.setattr(evaluate, "generate_batches", lambda *a, **k: pytest.fail("sampled before the disk check"))
    with pytest.raises(SystemExit) as e:
        eval_cli.main([str(runs["dcgan"]), "--metrics", "fid,kid", "--num", "50000", "--quiet",
                       "--json", str(tmp_path / "e.json")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--num 50,000 needs about" in err and err.count("\n") == 1, err
    assert eval_cli.parse_num_real("all") == "all" and eval_cli.parse_num_real("12") == 12


@pytest.mark.parametrize("module", ["cli.eval", "cli.sample"])
def test_bad_path_is_one_line_exit_2(module, cache, tmp_path):
    out = cli(module, str(tmp_path / "nope"), "--grid", "g.png", cache=cache, cwd=tmp_path) if module == "cli.sample" \
        else cli(module, str(tmp_path / "nope"), cache=cache, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and out.stderr.startswith("error: ") and "does not exist" in out.stderr
    assert "Traceback" not in out.stderr


def test_truncated_checkpoint_is_one_line_exit_2(runs, cache, tmp_path):
    data = (runs["dcgan"] / "checkpoints" / "last.pt").read_bytes()
    bad = tmp_path / "checkpoints" / "last.pt"
    bad.parent.mkdir()
    bad.write_bytes(data[: len(data) // 2])
    out = cli("cli.eval", str(bad), "--num", "10", cache=cache, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "unreadable" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "eval.json").exists()


def test_user_errors_in_process(runs, tmp_path, capsys):
    ckpt = torch.load(runs["dcgan"] / "checkpoints" / "last.pt", weights_only=True)
    ckpt["G"].pop(next(iter(ckpt["G"])))  # as if written by a version whose G had another layer
    torch.save(ckpt, tmp_path / "old.pt")
    cases = [
        (sample_cli, [str(tmp_path / "old.pt"), "--grid", str(tmp_path / "g.png")], "another gan-runner version"),
        (sample_cli, [str(runs["dcgan"])], "nothing to do"),
        (sample_cli, [str(runs["dcgan"]), "--grid", str(tmp_path / "g.png"), "--per-class"], "class-conditional"),
        (sample_cli, [str(runs["dcgan"]), "--out", str(tmp_path / "x.npz"), "--device", "tpu"], "--device must be"),
        (eval_cli, [str(runs["dcgan"]), "--metrics", "fid,modes"], "needs a 2D mixture dataset"),
        (eval_cli, [str(runs["dcgan"]), "--metrics", "fdi"], "unknown metric 'fdi'"),
        (eval_cli, [str(runs["dcgan"]), "--inception", str(tmp_path / "none.pth"), "--metrics", "fid"], "no such file"),
    ]
    for module, argv, message in cases:
        with pytest.raises(SystemExit) as e:
            module.main(argv)
        err = capsys.readouterr().err
        assert e.value.code == 2 and message in err and err.count("\n") == 1, (argv, err)


def test_infogan_pictures_in_process(runs, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        sample_cli.main([str(runs["infogan"]), "--grid", str(tmp_path / "i.png"), "--per-class", "--traverse",
                         "--interpolate", "--quiet"])
    assert e.value.code == 0, capsys.readouterr().err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["i.png", "i_interpolate.png", "i_per_class.png", "i_traverse_continuous_0.png",
                     "i_traverse_continuous_1.png"]
