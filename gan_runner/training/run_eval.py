"""Evaluation wired into a run: the end-of-training metrics and trainer.eval_every's evaluator.

Built once before training from explicit collaborators (model, EMA, config, data, seed, device), so the
trainer gets a ready callable and nothing here points back at the trainer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from gan_runner.data.base import DataSpec
from gan_runner.ema import EMA
from gan_runner.generation.loading import LoadedRun
from gan_runner.metrics.evaluate import check_metrics, evaluate_run, model_needs, parse_metric_list, why_not
from gan_runner.metrics.registry import record
from gan_runner.models.base import GANModel
from gan_runner.training.periodic_eval import PeriodicEval, periodic_options

INCEPTION_SPACES = ("inception", "inception-torchvision")
FINAL_PREFIX = "eval_final/"  # TensorBoard tags of the end-of-training evaluation (trainer.eval_every's: eval/)


def eval_features(ecfg: Mapping[str, Any], spec: DataSpec) -> str:
    """eval.features, checked before any training: a known space that fits the data, with the weights it needs."""
    from gan_runner.metrics.features import CONFIG_FLAGS, check_features

    features = str(ecfg.get("features") or "auto")
    # a bad local file, or no weights offline, is one line now rather than at the first evaluation
    check_features(features, spec, inception=ecfg.get("inception"), inception_weights=ecfg.get("inception_weights"),
                   flags=CONFIG_FLAGS)
    return features


def eval_metric_names(ecfg: Mapping[str, Any], spec: DataSpec, model: GANModel) -> list[str]:
    """The end-of-training metrics, checked against the run before any training (one clear line if one cannot apply).

    `ecfg`: the eval section as config_schema.EvalConfig validated it (keys, types, ranges, defaults)."""
    metrics = ecfg.get("metrics") or []
    features = eval_features(ecfg, spec)
    if not metrics:
        return []
    names = parse_metric_list(",".join(str(m) for m in metrics))
    check_metrics(names, spec, **model_needs(model, inception=features in INCEPTION_SPACES))
    return names


class GeneratorEvaluator:
    """gan-eval's metrics on a run's generator as it is now (EMA weights when on), no reload.

    The real side (its subset, features, the feature network) depends only on the data, seed and num, so
    it is computed at the first evaluation with a given num and reused by the later ones.
    """

    def __init__(self, model: GANModel, ema: EMA | None, config: dict[str, Any], data: Any, seed: int,
                 device: torch.device) -> None:
        self.model, self.ema, self.config, self.data = model, ema, config, data
        self.seed, self.device = seed, device
        self.reuse: dict[int, dict[str, Any]] = {}  # eval num -> real-side features kept between evaluations
        self.feature_space: str | None = None  # the tag of the space the last evaluation's features came from
        ecfg = config.get("eval") or {}
        self.features = str(ecfg.get("features") or "auto")  # checked before training by eval_metric_names
        self.inception_weights, self.inception = ecfg.get("inception_weights"), ecfg.get("inception")

    def __call__(self, names: list[str], num: int, step: int) -> dict[str, float]:
        """Evaluate `names` on `num` samples of the generator at training step `step`.

        Values come back with plain keys in the `auto` space (what eval.best and objectives name) and tagged
        with their space otherwise ('fid[inception]'); `feature_space` names the space either way.
        """
        now = LoadedRun(self.model, self.ema.module if self.ema else None, self.config, step)
        ev = evaluate_run(now, self.data.to("cpu"), names, num=num, seed=self.seed, device=self.device,
                          reuse=self.reuse.setdefault(num, {}), features=self.features,
                          inception_weights=self.inception_weights, inception=self.inception)
        space = ev.ctx.space_if_built()
        self.feature_space = None if space is None else space.tag
        results = ev.results
        return {k: round(float(v), 6) for k, v in results.items()}


def build_periodic_eval(every: Any, ecfg: Mapping[str, Any], model: GANModel,
                        evaluator: GeneratorEvaluator) -> PeriodicEval | None:
    """trainer.eval_every's evaluator (None when off): cheap defaults (fid, or the 2D/Stacked-MNIST mode counts)."""
    spec = model.spec
    kinds = model_needs(model, inception=evaluator.features in INCEPTION_SPACES)

    def check(names: list[str]) -> list[str]:
        names = parse_metric_list(",".join(names))
        check_metrics(names, spec, **kinds)
        return names

    defaults = next((c for c in (["modes"], ["stacked_modes"], ["fid"])
                     if all(why_not(n, spec, **kinds) is None for n in c)), [])
    opts = periodic_options(every, ecfg, defaults, check, record)
    if not opts.every:
        return None
    return PeriodicEval(opts, lambda step: evaluator(opts.metrics, opts.num, step),
                        space_tag=lambda: evaluator.feature_space)


def evaluate_final(evaluator: GeneratorEvaluator, names: list[str], num: int, step: int, run_dir: Path) -> dict[str, Any]:
    """gan-eval's metrics on the final generator, also written to TensorBoard as eval_final/NAME.

    eval_final/, not eval/: trainer.eval_every's evaluation may have written eval/NAME at this same step, from
    fewer samples; one tag holds one value per step. The result also names the feature space (`feature_space`:
    e.g. 'mnist_5k-clf'; TensorBoard text eval_final/feature_space); with eval.features other than auto every key
    carries it (eval_final/fid[inception]), so FIDs from different spaces never share a key.
    """
    from torch.utils.tensorboard import SummaryWriter

    results = evaluator(names, num, step)
    writer = SummaryWriter(str(run_dir / "tb"))
    for name, value in results.items():  # eval_final/fid in the auto space, eval_final/fid[inception] in another
        writer.add_scalar(f"{FINAL_PREFIX}{name}", value, step)
    if evaluator.feature_space is not None:
        writer.add_text(f"{FINAL_PREFIX}feature_space", evaluator.feature_space, step)
    writer.close()
    return {**results, **({"feature_space": evaluator.feature_space} if evaluator.feature_space else {})}
