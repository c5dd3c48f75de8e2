"""trainer.eval_every: metrics during training, best.pt, and no effect on the training trajectory."""
from __future__ import annotations

import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gan_runner.errors import UserError
from gan_runner.run import run
from gan_runner.training.periodic_eval import PeriodicEval, PeriodicEvalOptions, better

RING = ["experiment=ring8", "model.width=32", "model.d_width=32", "model.z_dim=8", "trainer.max_steps=8",
        "trainer.log_every=2", "trainer.sample_every=4", "trainer.ckpt_every=4", "trainer.quiet=true",
        "trainer.device=cpu", "trainer.ema=0.9", "dataset.batch_size=64"]
EVAL = ["trainer.eval_every=2", "eval.periodic_num=300"]


def _weights(run_dir):
    ckpt = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    return {f"{k}.{n}": t for k in ("G", "D", "G_ema") for n, t in ckpt[k].items()}, ckpt


def test_evaluation_during_training_does_not_change_the_trajectory(tmp_path, compose_cfg, one_thread):
    run(compose_cfg(*RING), tmp_path / "plain")
    run(compose_cfg(*RING, *EVAL), tmp_path / "eval")
    plain, a = _weights(tmp_path / "plain")
    evald, b = _weights(tmp_path / "eval")
    assert plain.keys() == evald.keys()
    for k in plain:  # bitwise: evaluation draws from a forked RNG and leaves G in train mode
        torch.testing.assert_close(evald[k], plain[k], rtol=0, atol=0, msg=k)
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])


def test_asking_for_a_final_evaluation_does_not_change_the_trajectory(tmp_path, compose_cfg, one_thread):
    run(compose_cfg(*RING), tmp_path / "plain")
    run(compose_cfg(*RING, "eval.metrics=[modes]", "eval.num=200"), tmp_path / "eval")
    plain, _ = _weights(tmp_path / "plain")
    evald, _ = _weights(tmp_path / "eval")
    for k in plain:
        torch.testing.assert_close(evald[k], plain[k], rtol=0, atol=0, msg=k)


def test_best_checkpoint_history_and_tensorboard(tmp_path, compose_cfg, one_thread):
    metrics = run(compose_cfg(*RING, *EVAL), tmp_path)
    pe = metrics["periodic_eval"]
    assert [h["step"] for h in pe["history"]] == [2, 4, 6, 8]
    times = [h["time_s"] for h in pe["history"]]
    assert times == sorted(times) and times[-1] <= metrics["train_time_s"]
    assert pe["metrics"] == ["modes"] and pe["best"]["metric"] == "modes"
    values = [h["modes"] for h in pe["history"]]
    best_step = pe["history"][values.index(max(values))]["step"]  # more modes is better; the first of equals
    assert pe["best"]["step"] == best_step and pe["best"]["value"] == max(values)
    best = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)
    assert best["step"] == best_step
    assert json.loads((tmp_path / "metrics.json").read_text())["periodic_eval"]["best"]["step"] == best_step
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("eval/modes")] == [2, 4, 6, 8]
    assert "eval/hq_percent" in events.Tags()["scalars"]


def test_resumed_run_keeps_its_evaluation_history(tmp_path, compose_cfg, one_thread):
    run(compose_cfg(*RING, *EVAL, "trainer.max_steps=4"), tmp_path)
    metrics = run(compose_cfg(*RING, *EVAL, "trainer.resume=auto"), tmp_path)
    assert [h["step"] for h in metrics["periodic_eval"]["history"]] == [2, 4, 6, 8]
    # training seconds continue across the resume, evaluation time (before and after it) left out
    times = [h["time_s"] for h in metrics["periodic_eval"]["history"]]
    assert times == sorted(times) and times[-1] <= metrics["train_time_s"] - metrics["periodic_eval"]["eval_time_s"]


def test_best_by_a_lower_is_better_value(tmp_path, compose_cfg, one_thread):
    metrics = run(compose_cfg(*RING, *EVAL, "eval.best=reverse_kl"), tmp_path)
    pe = metrics["periodic_eval"]
    finite = [h for h in pe["history"] if h["reverse_kl"] == h["reverse_kl"]]
    if finite:
        assert pe["best"]["value"] == min(h["reverse_kl"] for h in finite)


@pytest.mark.parametrize("overrides,message", [
    (["trainer.eval_every=-1"], "trainer.eval_every must be an integer >= 0"),
    (["trainer.eval_every=2", "eval.periodic=[parzen]"], "metric 'parzen' needs images"),
    (["trainer.eval_every=2", "eval.periodic_num=1"], "eval.periodic_num must be an integer >= 2"),
    (["+eval.every=2"], "eval has no option 'every'"),
    (["eval.features=foo"], "eval.features=foo is not a feature space (known: auto,"),
    (["eval.features=label-free"], "eval.features=label-free needs image data"),
])
def test_bad_periodic_options_fail_before_training(tmp_path, compose_cfg, overrides, message):
    with pytest.raises(UserError) as info:
        run(compose_cfg(*RING, *overrides), tmp_path / "run")
    assert message in str(info.value) and not (tmp_path / "run").exists()


def test_unknown_best_value_is_one_line_before_training(tmp_path, compose_cfg):
    with pytest.raises(UserError, match="eval.best=fid_typo is not among the reported values"):
        run(compose_cfg(*RING, *EVAL, "eval.best=fid_typo"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_better_knows_each_direction():
    assert better("fid", 10.0, 12.0) and not better("fid", 12.0, 10.0)
    assert better("modes", 8.0, 7.0) and not better("modes", 7.0, 8.0)
    assert better("fid", 5.0, None) and not better("fid", float("nan"), 3.0)


def test_periodic_fid_embeds_the_real_side_once_and_scores_as_a_fresh_evaluation(tmp_path, compose_cfg, one_thread,
                                                                                monkeypatch):
    import gan_runner.metrics.context as context

    from conftest import tiny

    monkeypatch.setenv("GAN_RUNNER_CACHE", str(tmp_path / "cache"))
    labels: list[str] = []
    stream = context.stream  # every pass over a set, real or generated, goes through it
    monkeypatch.setattr(context, "stream", lambda *a, **k: labels.append(k["label"]) or stream(*a, **k))
    metrics = run(compose_cfg(*tiny("dcgan"), "trainer.max_steps=6", "trainer.eval_every=2", "eval.periodic=[fid]",
                              "eval.periodic_num=200", "eval.metrics=[fid]", "eval.num=200", "trainer.ema=0"),
                  tmp_path / "run")
    history = metrics["periodic_eval"]["history"]
    assert [h["step"] for h in history] == [2, 4, 6]
    # 3 periodic evaluations and the final one (same num): the generated side each time, the real side once.
    assert labels.count("features (real)") == 1 and labels.count("sampling + features") == 4
    # the final evaluation (same generator, num and seed) reuses nothing it could get wrong: same FID
    assert metrics["eval"]["fid"] == pytest.approx(history[-1]["fid"], rel=1e-9)


def test_evaluation_seconds_survive_a_checkpoint():
    # a resumed run's elapsed time includes the earlier evaluations: time_s must keep subtracting them
    opts = PeriodicEvalOptions(2, ["modes"], 100, "modes")
    before = PeriodicEval(opts, lambda step: {"modes": 3.0})
    before(2, torch.device("cpu"), time_s=1.0)
    after = PeriodicEval(opts, lambda step: {"modes": 3.0})
    after.load_state_dict(before.state_dict())
    assert after.seconds == before.seconds > 0 and after.best_step == 2


@pytest.mark.parametrize("overrides,message", [
    (["eval.features=inception-torchvision"], "needs eval.inception=PATH"),
    (["eval.features=inception", "eval.inception_weights=/nonexistent/w.pth"], "/nonexistent/w.pth: no such file"),
    (["eval.features=classifier", "dataset=image_folder", "dataset.root=FOLDER", "dataset.image_size=8",
      "dataset.channels=1", "dataset.batch_size=4"], "eval.features=classifier needs labels; dataset 'image_folder' has none"),
])
def test_feature_spaces_that_cannot_work_fail_before_training(tmp_path, compose_cfg, overrides, message, monkeypatch):
    from PIL import Image

    from conftest import tiny

    monkeypatch.setenv("GAN_RUNNER_CACHE", str(tmp_path / "cache"))
    (tmp_path / "images").mkdir()
    for i in range(4):  # an unlabeled folder (no class subfolders)
        Image.new("L", (8, 8), 40 * i).save(tmp_path / "images" / f"{i}.png")
    overrides = [o.replace("FOLDER", str(tmp_path / "images")) for o in overrides]
    with pytest.raises(UserError) as info:
        run(compose_cfg(*tiny("dcgan"), "eval.metrics=[fid]", *overrides), tmp_path / "run")
    assert message in str(info.value) and "\n" not in str(info.value) and not (tmp_path / "run").exists()


def test_eval_features_tag_every_key_with_the_space(tmp_path, compose_cfg, one_thread, monkeypatch):
    from gan_runner.metrics import label_free

    from conftest import tiny

    monkeypatch.setenv("GAN_RUNNER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(label_free, "TRAIN_IMAGES", 3000)  # a few epochs suffice to get a space to tag
    metrics = run(compose_cfg(*tiny("dcgan"), "trainer.eval_every=2", "eval.periodic=[fid]", "eval.periodic_num=100",
                              "eval.metrics=[fid,is]", "eval.num=100", "eval.features=label-free"), tmp_path / "run")
    pe = metrics["periodic_eval"]
    assert pe["feature_space"] == "digits-rot" and all("fid[digits-rot]" in h and "fid" not in h for h in pe["history"])
    assert pe["best"]["metric"] == "fid" and pe["best"]["value"] == min(h["fid[digits-rot]"] for h in pe["history"])
    # IS needs class posteriors, which the rotation net has none of: the digits classifier's, tagged so
    assert {"fid[digits-rot]", "is[digits-clf]"} <= set(metrics["eval"]) and "fid" not in metrics["eval"]
    events = EventAccumulator(str(tmp_path / "run" / "tb"))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"eval/fid[digits-rot]", "eval_final/is[digits-clf]"} <= scalars and "eval/fid" not in scalars
    # HParams registered the tagged columns before the space existed (metrics.features.expected_space_tags)
    from tensorboard.plugins.hparams import metadata

    exp = metadata.parse_experiment_plugin_data(events.PluginTagToContent("hparams")[metadata.EXPERIMENT_TAG])
    registered = {m.name.tag for m in exp.metric_infos}
    written = {t for t in scalars if t.startswith(("eval/", "eval_final/"))}
    assert written <= registered, sorted(written - registered)


def test_expected_space_tags_name_the_spaces_builders_tag():
    """The branches evaluations cannot cheaply reach here: the Inception spaces' tags and stacked MNIST's classifier."""
    from gan_runner.data import build_dataset
    from gan_runner.metrics import fid_inception, inception
    from gan_runner.metrics.features import expected_space_tags

    digits = build_dataset({"name": "digits", "image_size": 16}).spec
    assert expected_space_tags("auto", digits, {}) is None
    assert expected_space_tags("inception", digits, {}) == (fid_inception.SPACE_NAME,) * 2
    assert expected_space_tags("inception-torchvision", digits, {}) == (inception.TAG,) * 2
    assert expected_space_tags("classifier", digits, {}) == ("digits-clf", "digits-clf")
