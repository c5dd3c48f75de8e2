"""Sweeps and dashboards: parallel multirun, Optuna search, launcher configs, gan-report, TensorBoard."""
from __future__ import annotations

import csv
import json
import math
import shutil

import pytest
import yaml
from hydra import compose, initialize_config_module
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gan_runner.cli.argv import explain_compose_error
from gan_runner.reporting import report

from conftest import TINY, gan_run

pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="needs the [sweeps] extra")


def test_parallel_sweep_with_a_diverging_job_and_its_report(tmp_path):
    sweep = tmp_path / "sweep"
    out = gan_run("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY, "trainer.max_steps=6",
                  "optimizer.lr_d=1e-4,2e-4,3e-4,1e9", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [j.name for j in jobs] == [f"{i}_optimizer.lr_d={v}" for i, v in enumerate(("0.0001", "0.0002", "0.0003", "1000000000.0"))]
    for job in jobs:  # every run is self-contained
        assert (job / "tb").is_dir() and (job / "metrics.json").is_file()
    md = report(sweep)
    rows = list(csv.DictReader((sweep / "report.csv").open()))
    assert len(rows) == 4
    failed = [r for r in rows if r["status"] != "completed"]
    assert len(failed) == 1 and failed[0]["status"] == "diverged" and "non-finite" in failed[0]["reason"]
    assert failed[0]["overrides"] == "optimizer.lr_d=1000000000.0"  # only what varies is shown
    assert "## Mean ± std (n runs) over seeds" in md and (sweep / "curves.png").stat().st_size > 1000


def test_report_on_a_single_run_and_on_a_sweep_in_progress(tmp_path):
    sweep = tmp_path / "sweep"
    out = gan_run("-m", *TINY, "seed=0,1", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (sweep / "1_seed=1" / "metrics.json").unlink()  # as if job 1 were still training
    rows = {r["run"]: r for r in csv.DictReader(open_report(sweep))}
    assert rows["0_seed=0"]["status"] == "completed" and rows["1_seed=1"]["status"] == "running" and rows["1_seed=1"]["step"] == "4"
    single = tmp_path / "single"
    shutil.copytree(sweep / "0_seed=0", single)
    assert "| completed |" in report(single)


def open_report(path):
    report(path, plot=False)
    return (path / "report.csv").open()


def test_gan_report_cli_errors_on_a_folder_without_runs(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "gan_runner.cli.report", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.startswith("error: ") and "no gan-run runs" in out.stderr


def test_optuna_search_runs_three_trials_end_to_end(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweep = tmp_path / "optuna"
    out = gan_run("-m", "hparams_search=optuna", "hydra.sweeper.n_trials=3", "optimizer.lr_d=choice(2e-4,1e9)",
                  *TINY, "eval.num=200", f"hydra.sweep.dir={sweep}", cwd=tmp_path, env={"GAN_RUNNER_CACHE": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    result = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert math.isfinite(result["best_value"]) and "optimizer.lr_g" in result["best_params"]
    # job dirs named by the search space (hydra.sweeper.params): Optuna writes no multirun.yaml
    assert sorted(p.name.split("=")[0] for p in sweep.glob("*_*") if p.is_dir()) == ["0_optimizer.lr_g", "1_optimizer.lr_g", "2_optimizer.lr_g"]
    runs = [json.loads(next(sweep.glob(f"{i}_*/metrics.json")).read_text()) for i in range(3)]
    fids = [r["eval"]["fid"] for r in runs if r["status"] == "completed"]
    assert fids and result["best_value"] == pytest.approx(min(fids), rel=1e-6)  # the objective is the final FID


def test_tensorboard_has_what_a_dashboard_needs(tmp_path):
    out = gan_run(*TINY, "eval.metrics=[fid]", "eval.num=200", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path,
                  env={"GAN_RUNNER_CACHE": str(tmp_path / "cache")})
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["eval"]["fid"] > 0
    acc = EventAccumulator(str(tmp_path / "run" / "tb"), size_guidance={"images": 0, "scalars": 0, "tensors": 0}).Reload()
    tags = acc.Tags()
    assert {"loss/d", "loss/g", "D/real", "D/fake", "perf/steps_per_s", "eval_final/fid"} <= set(tags["scalars"])
    assert "samples/samples" in tags["images"]
    hparams = acc.PluginTagToContent("hparams")
    assert "_hparams_/experiment" in hparams and "_hparams_/session_start_info" in hparams
    start = hparams["_hparams_/session_start_info"]
    assert b"model.width" in start and b"optimizer.betas" not in start  # what the command line set, not every key
    assert b"eval_final/fid" in hparams["_hparams_/experiment"]  # the HParams tab lists the final metric
    assert "custom_scalars__config__" in acc.PluginTagToContent("custom_scalars")
    [layout] = acc.Tensors("custom_scalars__config__")
    assert b"losses of G and D" in layout.tensor_proto.string_val[0]


def test_slurm_launcher_config_composes():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the [slurm] extra")
    with initialize_config_module("gan_runner.conf", version_base=None):
        cfg = compose("config", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert "submitit" in launcher._target_.lower() and launcher.partition == "gpu" and launcher.gpus_per_node == 1


def test_missing_plugin_error_names_the_extra():
    msg = ("In 'config': Could not find 'hydra/launcher/joblib'\n\nAvailable options in 'hydra/launcher':\n"
           "\tbasic\nConfig search path:\n\tprovider=hydra")
    line = explain_compose_error(Exception(msg), [])
    assert line.startswith("unknown hydra/launcher 'joblib' (choices: basic)") and "gan-runner[sweeps]" in line


def test_the_objective_is_the_metric_or_the_worst_value_for_the_direction():
    from gan_runner.sweep_objective import objective_value

    done = {"status": "completed", "eval": {"fid": 2.5}, "final": {"loss/g": float("nan")}, "step": 40}
    assert objective_value(done, "eval.fid") == 2.5 and objective_value(done, "step") == 40.0
    assert objective_value(done, None) is None  # no objective: Hydra's basic sweeper wants nothing back
    assert objective_value(done, "final.loss/g") == math.inf  # NaN is no value: the worst for minimizing
    assert objective_value({"status": "diverged", "eval": {"fid": 1.0}}, "eval.fid", "maximize") == -math.inf
    assert objective_value({"status": "failed"}, "eval.fid") == math.inf
