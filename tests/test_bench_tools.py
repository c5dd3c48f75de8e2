"""The benchmark summary scripts: bench/ablation_summary.py (tables, --merge, curves) and bench/quality_curve.py."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import yaml

from conftest import REPO


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _job(path, ablation: str, seed: int, fid: float, history: list[dict]) -> None:
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"ablation={ablation}", f"seed={seed}"]))
    metrics = {"status": "completed", "eval": {"fid": fid}, "wall_time_s": 10.0 + seed,
               "periodic_eval": {"history": history}}
    (path / "metrics.json").write_text(json.dumps(metrics))


def test_ablation_summary_merges_sweeps_into_one_mean_per_switch(tmp_path):
    hist = [{"step": 500, "time_s": 5.0, "fid": 40.0}, {"step": 1000, "time_s": 10.0, "fid": 20.0}]
    _job(tmp_path / "s0" / "0", "none", 0, 20.0, hist)
    _job(tmp_path / "s0" / "1", "r1", 0, 6.0, hist)
    _job(tmp_path / "s12" / "0", "none", 1, 24.0, hist)
    _job(tmp_path / "s12" / "1", "r1", 1, 8.0, hist)
    (tmp_path / "s12" / "multirun.yaml").write_text("{}")  # files beside the job dirs are ignored
    out = subprocess.run([sys.executable, str(REPO / "bench" / "ablation_summary.py"), str(tmp_path / "s0"),
                          str(tmp_path / "s12"), "--merge", "mnist", "--curves", str(tmp_path / "c.png")],
                         capture_output=True, text=True, check=True).stdout
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if "| 2/2 |" in line}  # the summary rows
    assert "| 2/2 | 22 ± 2.8 |" in rows["none"] and "| 2/2 | 7 ± 1.4 |" in rows["r1"]  # one table, seeds pooled
    assert out.count("### ") == 1 and (tmp_path / "c.png").stat().st_size > 0


def test_quality_curve_reads_periodic_fid_against_training_time(tmp_path):
    qc = _load("quality_curve")
    hist = [{"step": 500, "time_s": 16.0, "fid": 300.0}, {"step": 1000, "time_s": 32.5, "fid": 24.0},
            {"step": 1500, "time_s": 48.0, "modes": 3}]  # entries without fid are skipped
    (tmp_path / "metrics.json").write_text(json.dumps({"periodic_eval": {"history": hist}}))
    assert qc.ours_curve(tmp_path) == [(16.0, 500, 300.0), (32.5, 1000, 24.0)]
    qc.plot({"ours": qc.ours_curve(tmp_path)}, tmp_path / "q.png")
    assert (tmp_path / "q.png").stat().st_size > 0


def test_bench_loops_advance_the_step_so_lazy_penalties_keep_their_schedule(one_thread):
    """bench/throughput.py's timed loop runs trainer.iteration like train() does: without the step advancing, lazy R1
    (stabilize.reg_every=4) ran on every iteration and bench/step_costs.py timed the default job 1.7x too slow."""
    from conftest import TINY

    sys.path.insert(0, str(REPO / "bench"))
    throughput = _load("throughput")
    trainer, steps = throughput.gan_run_loop(["stabilize.r1=1", "stabilize.reg_every=4", "trainer.log_every=1"], "cpu",
                                             base=TINY)
    seen = []
    original = trainer.run_phase

    def spy(phase, stats, log):
        original(phase, stats, log)
        if phase.name == "D":
            seen.append("r1/grad_sq" in stats.pop())

    trainer.run_phase = spy
    steps(8)
    assert trainer.step == 8 and seen == [True, False, False, False] * 2


def test_study_plot_lists_trials_best_first_and_keeps_failed_ones(tmp_path):
    study = _load("study_plot")
    for n, (lr, fid, status) in enumerate([(1e-4, 8.0, "completed"), (1e-3, 2.5, "completed"), (3e-3, None, "diverged")]):
        job = tmp_path / f"{n}_optimizer.lr_g={lr}"
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"optimizer.lr_g={lr}", "hparams_search=x"]))
        metrics = {"status": status, "step": 100, "stopped_by": "max_time", **({"eval": {"fid": fid}} if fid else {})}
        (job / "metrics.json").write_text(json.dumps(metrics))
    trials = study.read_trials(tmp_path, "eval.fid")
    assert [t["trial"] for t in trials] == [0, 1, 2] and trials[0]["params"] == {"optimizer.lr_g": "0.0001"}
    rows = study.table(trials, "eval.fid").splitlines()[2:]
    assert [r.split("|")[1].strip() for r in rows] == ["1", "0", "2"]  # best first, the diverged trial last
    assert "diverged" in rows[-1] and "| lr_g |" in study.table(trials, "eval.fid")
    study.plot(trials, "eval.fid", tmp_path / "study.png")
    assert (tmp_path / "study.png").stat().st_size > 1000
