"""What TensorBoard shows of a sweep, read through TensorBoard's own data API: HParams columns, one value per
(tag, step), single-unit custom-scalar charts, job dirs named by what they vary, the Text tab."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import api_pb2, metadata

from gan_runner.cli.job_dirs import job_dirname
from gan_runner.training.hparams import run_hparams
from gan_runner.training.logger import RunLogger

from conftest import gan_run, tiny

SWEEP = ["experiment=ring8", "loss=ns,wgan_gp", "trainer.max_steps=20", "trainer.log_every=5", "trainer.eval_every=10",
         "eval.metrics=[modes]", "eval.num=400", "eval.periodic_num=200", "trainer.quiet=true"]

# The unit of every scalar a run writes, decided here independently of the layout under test.
UNITS = [
    (r"^loss/[dg]$", "nats"), (r"^D/(real|fake)$", "probability"),  # ns, minimax
    (r"^loss/[dg]\[wgan\]$", "critic loss"), (r"^(D/(real|fake)\[wgan\]|wasserstein)$", "critic value"),
    (r"^(grad_norm/[dg]|gp/grad_norm)$", "gradient norm"), (r"^(gp/penalty|r[12]/grad_sq)$", "penalty"),
    (r"^lr/[dg]$", "learning rate"), (r"^perf/steps_per_s$", "steps/s"), (r"^perf/images_per_s$", "images/s"),
    (r"^eval(_final)?/(modes|modes_total)$", "modes"), (r"^eval(_final)?/hq_percent$", "percent"),
    (r"^eval(_final)?/reverse_kl$", "nats"), (r"^eval(_final)?/fid$", "FID"), (r"^eval(_final)?/kid(_std)?$", "KID"),
    (r"^eval(_final)?/(precision|recall|density|coverage)$", "fraction"),
]


def unit(tag: str) -> str:
    return next(u for pattern, u in UNITS if re.search(pattern, tag))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dash")
    out = gan_run("-m", *SWEEP, f"hydra.sweep.dir={root / 'sweep'}", cwd=root)
    assert out.returncode == 0, out.stderr
    return root / "sweep"


def accumulator(tb: Path) -> EventAccumulator:
    return EventAccumulator(str(tb), size_guidance={"scalars": 0, "tensors": 0}).Reload()


def test_job_dirs_are_named_by_the_swept_keys(sweep):
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0_loss=ns", "1_loss=wgan_gp"]


def test_job_dirname_is_one_safe_path_component_of_bounded_length(tmp_path):
    assert job_dirname(3, [], tmp_path) == "3"
    assert job_dirname(0, ["dataset.root=/data/x", "seed=1"], tmp_path) == "0_seed=1"  # paths say where, not what
    assert job_dirname(2, ["model=gan", "optimizer.lr_g=0.001"], tmp_path, {"optimizer.lr_g": "interval(0,1)"}) == \
        "2_optimizer.lr_g=0.001"  # a sweeper's search space (Optuna) is what varies
    long = [f"optimizer.lr_g={i}" for i in range(40)]
    name = job_dirname(7, long, tmp_path)
    assert "/" not in name and len(name) <= 125 and name != job_dirname(7, long[:-1], tmp_path)


def test_hparams_show_the_swept_key_first_and_every_eval_metric(sweep):
    experiments, values = [], {}
    for tb in sorted(sweep.glob("*/tb")):
        content = accumulator(tb).PluginTagToContent("hparams")
        exp = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
        experiments.append(exp)
        start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
        values[tb.parent.name] = start.hparams["loss"].string_value
        end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
        assert end.status == api_pb2.STATUS_SUCCESS
    assert values == {"0_loss=ns": "ns", "1_loss=wgan_gp": "wgan_gp"}
    for exp in experiments:
        names = [h.name for h in exp.hparam_infos]
        assert names[0] == "loss" and exp.hparam_infos[0].differs and not any(h.differs for h in exp.hparam_infos[1:])
        assert names == ["loss", "model", "dataset", "seed"]  # what the jobs share is in the Text tab, not a column
        metrics = [m.name.tag for m in exp.metric_infos]
        # this sweep's evaluations first (TensorBoard ticks the first five), by the tags the runs really write
        assert metrics[:3] == ["eval_final/modes", "eval_final/hq_percent", "eval_final/reverse_kl"]
        assert {"eval/modes", "eval/fid", "eval/precision", "eval/recall", "eval_final/fid", "loss/d"} <= set(metrics)
        assert {"loss/d[wgan]", "D/real[wgan]", "loss/g[hinge]"} <= set(metrics)  # every loss family's columns
        assert "eval/pr" not in metrics
    # whichever run TensorBoard reads, the same columns; each run's own loss family right after the evaluations
    assert experiments[0].hparam_infos == experiments[1].hparam_infos
    first, second = ([m.name.tag for m in exp.metric_infos] for exp in experiments)
    assert set(first) == set(second)
    i, j = first.index("loss/d"), second.index("loss/d[wgan]")
    assert i == j and first[:i] == second[:j] and all(t.startswith(("eval/", "eval_final/")) for t in first[:i])
    assert first[i + 1] == "loss/g" and second[j + 1] == "loss/g[wgan]"


def test_no_tag_has_two_values_at_one_step(sweep):
    for tb in sweep.glob("*/tb"):
        seen: Counter = Counter()
        for path in tb.glob("events.out.tfevents.*"):  # every event file, as TensorBoard reads them all
            for event in LegacyEventFileLoader(str(path)).Load():  # raw events, not migrated
                for v in event.summary.value:
                    if v.HasField("simple_value"):
                        seen[(v.tag, event.step)] += 1
        twice = [k for k, n in seen.items() if n > 1]
        assert not twice, f"{tb}: {twice[:5]}"
        assert ("eval/modes", 20) in seen and ("eval_final/modes", 20) in seen  # periodic and final, apart


def test_each_custom_scalar_chart_holds_one_unit_and_every_scalar_has_a_chart(sweep):
    tags: set[str] = set()
    charts: dict[str, list[str]] = {}  # title -> tag regexes, over every run's layout (TensorBoard merges them)
    for tb in sweep.glob("*/tb"):
        acc = accumulator(tb)
        tags |= set(acc.Tags()["scalars"])
        [event] = acc.Tensors("custom_scalars__config__")
        for category in layout_pb2.Layout.FromString(event.tensor_proto.string_val[0]).category:
            charts.update({chart.title: list(chart.multiline.tag) for chart in category.chart})
    charted: set[str] = set()
    for title, regexes in charts.items():
        shown = {t for t in tags if any(re.search(rx, t) for rx in regexes)}
        assert shown, f"{title}: an empty chart"  # each run lays out only the charts it fills
        assert len({unit(t) for t in shown}) == 1, f"{title}: {sorted(shown)}"
        charted |= shown
    assert charted == tags, f"not in any chart: {sorted(tags - charted)}"
    assert "Wasserstein estimate" in charts and "FID" not in charts


def test_text_tab_holds_the_overrides_and_the_config(sweep):
    acc = accumulator(sweep / "1_loss=wgan_gp" / "tb")
    [overrides] = acc.Tensors("run/overrides/text_summary")
    assert b"loss=wgan_gp" in overrides.tensor_proto.string_val[0]
    [config] = acc.Tensors("run/config/text_summary")
    assert b"gp_weight: 10" in config.tensor_proto.string_val[0]


@pytest.mark.parametrize("status, expected", [("diverged", api_pb2.STATUS_FAILURE), ("interrupted", api_pb2.STATUS_UNKNOWN),
                                              ("completed", api_pb2.STATUS_SUCCESS)])
def test_session_status_says_how_the_run_ended(tmp_path, status, expected):
    logger = RunLogger(tmp_path, max_steps=4, start_step=0, max_time=None, batch_size=2, quiet=True)
    logger.hparams(tmp_path, {"seed": 0, "loss": {"name": "ns"}}, [], [])
    logger.close(status)
    content = accumulator(tmp_path / "tb").PluginTagToContent("hparams")
    assert metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG]).status == expected


def test_run_hparams_takes_config_values_and_group_names():
    config = {"seed": 1, "model": {"name": "dcgan", "width": 32}, "loss": {"name": "wgan_gp"}, "dataset": {"name": "digits"},
              "optimizer": {"lr_d": 0.0001}}
    overrides = ["optimizer.lr_d=1e-4", "loss=wgan_gp", "+experiment=ring8"]
    params = run_hparams(config, overrides, {"optimizer.lr_d"})  # a sweep over lr_d
    assert list(params) == ["optimizer.lr_d", "model", "loss", "dataset", "seed"]
    assert params["optimizer.lr_d"] == (0.0001, True) and params["loss"] == ("wgan_gp", False)
    single = run_hparams(config, overrides, set())  # a single run: its overrides too
    assert list(single) == ["model", "loss", "dataset", "seed", "optimizer.lr_d", "experiment"]
    assert single["experiment"] == ("ring8", False) and single["seed"] == (1, False)


def test_ctrl_c_stops_a_sequential_sweep_not_just_its_job(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from conftest import TINY

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gan_runner.cli.train", "-m", *TINY, "trainer.max_steps=100000",
                             "trainer.max_time=15", "trainer.quiet=false", "seed=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    for line in proc.stdout:
        if line.startswith("step "):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGINT and "later jobs not started" in err, err
    assert [p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir()] == ["0_seed=0"]  # job 1 never started


def test_a_run_that_raises_mid_training_ends_its_session_as_failed(tmp_path, monkeypatch, compose_cfg):
    from gan_runner.errors import UserError
    from gan_runner.run import run
    from gan_runner.training.trainer import Trainer

    def full_disk(self):
        raise UserError("could not write checkpoint: No space left on device")

    monkeypatch.setattr(Trainer, "save", full_disk)
    with pytest.raises(UserError):
        run(compose_cfg(*tiny("dcgan"), "trainer.log_every=1", "trainer.ckpt_every=2"), tmp_path)
    content = accumulator(tmp_path / "tb").PluginTagToContent("hparams")
    end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    assert end.status == api_pb2.STATUS_FAILURE
