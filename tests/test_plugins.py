"""Plugins from outside the package, through the real entry-point path: examples/gan_runner_example is pip-installed
(into a folder on PYTHONPATH, as a venv's site-packages would hold it) and every CLI runs on what it registers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO

EXAMPLE = REPO / "examples" / "gan_runner_example"
TINY = ["model=resnet", "loss=wgan_lp", "dataset=blobs", "model.width=8", "model.z_dim=8", "dataset.num_samples=256",
        "dataset.image_size=8", "trainer.n_critic=1", "trainer.max_steps=4", "trainer.log_every=2",
        "trainer.ckpt_every=2", "trainer.sample_every=4", "trainer.grid_size=4", "trainer.quiet=true",
        "trainer.device=cpu", "trainer.precision=fp32"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin installed with pip into a folder of its own (no build isolation: offline-safe)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    out = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--target", str(target), str(EXAMPLE)], capture_output=True, text=True, timeout=300,
                         cwd=build, env={**os.environ, "PIP_NO_INDEX": "1", "TMPDIR": str(build)})
    assert out.returncode == 0, out.stderr
    assert (target / "gan_runner_example" / "conf" / "model" / "resnet.yaml").is_file()
    return target


def cli(tool: str, *args: str, site: Path | None, cwd: Path, extra_env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """python -m gan_runner.cli.TOOL in a subprocess, with the plugin's folder on PYTHONPATH (or not)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HYDRA_FULL_ERROR", "PYTHONPATH", "GAN_RUNNER_PLUGINS", "GAN_RUNNER_NO_ENTRY_POINTS")}
    env["OMP_NUM_THREADS"] = "1"
    if site is not None:
        env["PYTHONPATH"] = str(site)
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", f"gan_runner.cli.{tool}", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    ckpt = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    return {f"{k}.{n}": t for k in ("G", "D") for n, t in ckpt[k].items()}


def test_every_cli_works_on_a_plugin_run(site: Path, tmp_path: Path):
    help_ = cli("train", "--help", site=site, cwd=tmp_path)
    assert help_.returncode == 0 and "resnet" in help_.stdout and "wgan_lp" in help_.stdout and "blobs" in help_.stdout

    full = tmp_path / "full"
    out = cli("train", *TINY, "eval.metrics=[pixel_mean_gap]", "eval.num=64", f"hydra.run.dir={full}", site=site, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    metrics = json.loads((full / "metrics.json").read_text())
    assert metrics["status"] == "completed" and 0 <= metrics["eval"]["pixel_mean_gap"] <= 1
    used = {(p["kind"], p["name"]): p for p in metrics["plugins"]}
    assert set(used) == {("model", "resnet"), ("loss", "wgan_lp"), ("dataset", "blobs"), ("eval.metrics", "pixel_mean_gap")}
    assert used["model", "resnet"]["distribution"] == "gan-runner-example" and used["model", "resnet"]["version"] == "0.1.0"
    ckpt = torch.load(full / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["plugins"] == metrics["plugins"]

    # resume: 2 steps, then on to 4 in the same run dir, equals the uninterrupted run bitwise
    split = tmp_path / "split"
    assert cli("train", *TINY, "trainer.max_steps=2", f"hydra.run.dir={split}", site=site, cwd=tmp_path).returncode == 0
    again = cli("train", *TINY, "trainer.resume=auto", f"hydra.run.dir={split}", site=site, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    a, b = weights(full), weights(split)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    png = tmp_path / "grid.png"
    sample = cli("sample", str(full), "--num", "16", "--out", str(tmp_path / "s.npz"), "--grid", str(png), "--quiet",
                 site=site, cwd=tmp_path)
    assert sample.returncode == 0, sample.stderr
    assert png.is_file()
    ev = cli("eval", str(full), "--metrics", "pixel_mean_gap,fid", "--features", "pooled_pixels", "--num", "64",
             "--json", str(tmp_path / "e.json"), "--quiet", site=site, cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    results = json.loads((tmp_path / "e.json").read_text())["metrics"]
    assert 0 <= results["pixel_mean_gap"] <= 1 and results["fid[pooled]"] > 0  # FID in the plugin's feature space

    # the same run dir with the plugin absent: one line saying what to install
    missing = cli("sample", str(full), "--num", "4", "--out", str(tmp_path / "m.npz"), site=None, cwd=tmp_path,
                  extra_env={"GAN_RUNNER_NO_ENTRY_POINTS": "1"})  # absent even where a developer installed it
    assert missing.returncode == 2
    assert missing.stderr.strip() == ("error: this run's model 'resnet' comes from plugin 'example', which is not "
                                      "installed: pip install 'gan-runner-example==0.1.0'")


def test_a_sweep_and_its_report_on_plugin_runs(site: Path, tmp_path: Path):
    sweep = tmp_path / "sweep"
    out = cli("train", "-m", *TINY, "trainer.max_steps=2", "seed=0,1", f"hydra.sweep.dir={sweep}", site=site, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    jobs = sorted(p.parent for p in sweep.rglob("metrics.json"))
    assert len(jobs) == 2 and all(json.loads((j / "metrics.json").read_text())["status"] == "completed" for j in jobs)
    rep = cli("report", str(sweep), site=site, cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    assert (sweep / "report.csv").is_file()


def test_file_plugins_named_on_the_command_line(tmp_path: Path):
    """A .py file with a conf/ folder beside it: no packaging, same mechanism; duplicates and bad files in one line."""
    plug = tmp_path / "proj"
    (plug / "conf" / "model").mkdir(parents=True)
    (plug / "my_gan.py").write_text(
        "from gan_runner import register_model\n"
        "from gan_runner.models.dcgan import build_dcgan\n"
        "register_model('tiny_dcgan')(build_dcgan)  # a new name for an existing builder: enough to test the path\n")
    (plug / "conf" / "model" / "tiny_dcgan.yaml").write_text("name: tiny_dcgan\nwidth: 8\nz_dim: 8\n")
    run_dir = tmp_path / "run"
    args = ["model=tiny_dcgan", "dataset=digits", "trainer.max_steps=2", "trainer.device=cpu", "trainer.quiet=true",
            "trainer.ckpt_every=2", f"hydra.run.dir={run_dir}"]
    out = cli("train", f"plugins=[{plug / 'my_gan.py'}]", *args, site=None, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    recorded = json.loads((run_dir / "metrics.json").read_text())["plugins"]
    assert recorded == [{"kind": "model", "name": "tiny_dcgan", "plugin": str(plug / "my_gan.py"), "source": "file",
                         "distribution": None, "version": None}]
    # loading the run without the file: told to pass it; with it (or GAN_RUNNER_PLUGINS): works
    no = cli("sample", str(run_dir), "--num", "4", "--out", str(tmp_path / "a.npz"), site=None, cwd=tmp_path)
    assert no.returncode == 2 and no.stderr.strip().endswith(f"pass --plugin {plug / 'my_gan.py'}")
    yes = cli("sample", str(run_dir), "--num", "4", "--out", str(tmp_path / "a.npz"), "--plugin", str(plug / "my_gan.py"),
              site=None, cwd=tmp_path)
    assert yes.returncode == 0, yes.stderr
    env = cli("sample", str(run_dir), "--num", "4", "--out", str(tmp_path / "b.npz"), site=None, cwd=tmp_path,
              extra_env={"GAN_RUNNER_PLUGINS": str(plug / "my_gan.py")})
    assert env.returncode == 0, env.stderr

    (plug / "dup.py").write_text("from gan_runner import register_loss\nregister_loss('hinge')(object)\n")
    dup = cli("train", f"plugins=[{plug / 'dup.py'}]", *args, site=None, cwd=tmp_path)
    assert dup.returncode == 2 and len(dup.stderr.strip().splitlines()) == 1
    assert f"loss 'hinge' is already registered by gan-runner; plugin '{plug / 'dup.py'}' cannot register it again" in dup.stderr
    nofile = cli("train", "plugins=[./nosuch.py]", *args, site=None, cwd=tmp_path)
    assert nofile.returncode == 2 and nofile.stderr.strip() == "error: plugin file ./nosuch.py does not exist"


def test_a_broken_installed_plugin_is_reported_and_skipped(site: Path, tmp_path: Path):
    """An entry point whose import fails: one warning line naming it; runs that do not use it still work."""
    broken = tmp_path / "broken_site"
    (broken / "broken_plugin-1.0.dist-info").mkdir(parents=True)
    (broken / "broken_plugin-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (broken / "broken_plugin-1.0.dist-info" / "entry_points.txt").write_text("[gan_runner.plugins]\nbroken = broken_plugin\n")
    (broken / "broken_plugin.py").write_text("raise RuntimeError('this plugin is broken')\n")
    out = cli("train", "--cfg", "job", "model=resnet", site=site, cwd=tmp_path,
              extra_env={"PYTHONPATH": f"{site}{os.pathsep}{broken}"})
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == ("warning: plugin 'broken' (broken-plugin) failed to import and is skipped: "
                                  "RuntimeError: this plugin is broken")
    assert "name: resnet" in out.stdout


def test_a_crafted_run_dir_runs_no_code(tmp_path: Path):
    """A checkpoint that names a plugin file (which would write a marker if imported): loading never imports it."""
    evil = tmp_path / "evil.py"
    marker = tmp_path / "pwned"
    evil.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    run_dir = tmp_path / "run"
    args = ["model=dcgan", "dataset=digits", "model.width=8", "model.z_dim=8", "trainer.max_steps=2", "trainer.device=cpu",
            "trainer.quiet=true", f"hydra.run.dir={run_dir}"]
    assert cli("train", *args, site=None, cwd=tmp_path).returncode == 0
    last = run_dir / "checkpoints" / "last.pt"
    ckpt = torch.load(last, weights_only=True)
    ckpt["config"]["plugins"] = [str(evil)]
    ckpt["config"]["model"]["name"] = "evil_model"
    ckpt["plugins"] = [{"kind": "model", "name": "evil_model", "plugin": str(evil), "source": "file",
                        "distribution": None, "version": None}]
    last.unlink()  # a hard link to step_2: write a new file
    torch.save(ckpt, last)
    for tool, extra in (("sample", ["--num", "4", "--out", str(tmp_path / "x.npz")]), ("eval", ["--metrics", "fid"])):
        out = cli(tool, str(run_dir), *extra, site=None, cwd=tmp_path)
        assert out.returncode == 2 and f"pass --plugin {evil}" in out.stderr
    resumed = cli("train", *args, "trainer.max_steps=4", f"trainer.resume={run_dir}", site=None, cwd=tmp_path)
    assert not marker.exists(), resumed.stderr  # the resumed run's plugins come from its command line only
