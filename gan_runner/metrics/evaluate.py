"""Pick the metrics that fit a run, check a requested list before any work, and run them with timings."""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan_runner.data.base import DataSpec
from gan_runner.errors import ConfigError, UserError
from gan_runner.generation.sampling import generate_batches
from gan_runner.metrics.context import EvalContext
from gan_runner.metrics.features import dataset_classifier, feature_space_for, resolve_features
from gan_runner.metrics.registry import METRICS, record
from gan_runner.metrics.space import default_cache_dir, default_stats_dir
from gan_runner.progress import no_progress

IMAGE_DEFAULTS = ("fid", "kid", "is", "pr", "dc", "parzen")
POINT_DEFAULTS = ("modes", "fid", "kid", "pr", "dc")  # 2D points are their own features
# Parzen is left out of stacked_mnist's defaults: with no held-out stacked split it would score the
# training data, and in 3,072 dimensions it takes minutes; it can still be asked for.
STACKED_DEFAULTS = ("stacked_modes", "fid", "kid", "is", "pr", "dc")
CONDITIONING = ("class_acc", "purity")  # added to every default list; they apply only where the model conditions


def parse_metric_list(text: str) -> list[str]:
    """'fid, kid,pr' -> ['fid', 'kid', 'pr']; unknown names raise ConfigError listing the known ones."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"--metrics is empty (known: {', '.join(METRICS.names())})")
    for n in names:
        METRICS.get(n)  # raises "unknown metric 'x' (known: ...)"
    return list(dict.fromkeys(names))  # drop repeats, keep order


def why_not(name: str, spec: DataSpec, *, conditional: bool, infogan: bool, inception: bool) -> str | None:
    """Why metric `name` cannot run on this run (None: it can), read off its record.

    conditional / infogan: the model's stated `requires_labels` / `has_codes`; inception: features that need
    no labels were given (so unlabeled images still get FID/KID/IS/PR).
    """
    r = record(name)
    labeled = bool(spec.num_classes)
    if r.datasets and spec.name not in r.datasets:
        return f"metric '{name}' needs {r.dataset_hint or ', '.join(r.datasets)}; the run's dataset is '{spec.name}'"
    if (r.needs_classifier or r.needs_labels) and not spec.is_image:
        return f"metric '{name}' needs a classifier; dataset '{spec.name}' is 2D points"
    if r.needs_images and not spec.is_image:
        return f"metric '{name}' needs images; dataset '{spec.name}' is 2D points"
    # needs_features always holds: unlabeled images get the label-free feature net (label_free.py)
    if r.needs_classifier and not (labeled or inception):
        return (f"metric '{name}' needs a classifier: dataset '{spec.name}' has no labels; give --features inception "
                "(the FID Inception) or --inception PATH")
    if r.needs_labels and not labeled:
        return f"metric '{name}' needs a labeled dataset to train a classifier on; '{spec.name}' has no labels"
    if r.needs_conditional and not conditional:
        return f"metric '{name}' needs a class-conditional model (cgan, acgan)"
    if r.needs_codes and not infogan:
        return f"metric '{name}' needs an InfoGAN model (categorical codes)"
    return None


def default_metrics(spec: DataSpec, *, conditional: bool, infogan: bool, inception: bool) -> list[str]:
    """Every metric that applies: the standard set, plus class accuracy or purity where the model conditions."""
    standard = STACKED_DEFAULTS if spec.stacked_digits else IMAGE_DEFAULTS if spec.is_image else POINT_DEFAULTS
    base = list(standard) + list(CONDITIONING)
    return [n for n in base if why_not(n, spec, conditional=conditional, infogan=infogan, inception=inception) is None]


def check_metrics(names: list[str], spec: DataSpec, *, conditional: bool, infogan: bool, inception: bool) -> None:
    """Raise a UserError for the first requested metric that cannot run on this run."""
    for n in names:
        reason = why_not(n, spec, conditional=conditional, infogan=infogan, inception=inception)
        if reason:
            raise UserError(reason)


def model_needs(model: Any, *, inception: bool = False) -> dict[str, bool]:
    """why_not's keyword arguments for a model: what its class states it carries (labels, InfoGAN codes)."""
    return {"conditional": bool(model.requires_labels), "infogan": bool(model.has_codes), "inception": inception}


def run_metrics(ctx: EvalContext, names: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """Compute each metric (sharing features through ctx); returns (flat results, seconds per metric)."""
    results: dict[str, float] = {}
    seconds: dict[str, Any] = {}
    for name in names:
        t0 = time.perf_counter()
        results.update(METRICS.build(name, ctx))
        seconds[name] = round(time.perf_counter() - t0, 3)
    return results, seconds


def tag_results(results: dict[str, float], names: list[str], tag: str,
                value_tags: dict[str, str] | None = None) -> dict[str, float]:
    """Name the feature space in the keys of the values computed in it: {'fid': x} -> {'fid[inception]': x}.

    value_tags: metric -> the tag of another space its values came from (IS from the dataset's classifier).
    """
    value_tags = value_tags or {}
    space_of = {v: value_tags.get(n, tag) for n in names if record(n).needs_features or record(n).needs_classifier
                for v in record(n).reports}
    return {(f"{k}[{space_of[k]}]" if k in space_of else k): v for k, v in results.items()}


def planned_reads(names: list[str]) -> set[str]:
    """What the metrics read of the two sets (their records' `reads`)."""
    return {r for n in names for r in record(n).reads}


@dataclass
class Evaluation:
    """The outcome of evaluating a generator: results, seconds per stage, the context (notes, feature space)."""

    results: dict[str, float]
    seconds: dict[str, float]
    ctx: EvalContext
    num: int


def evaluate_run(run: Any, data: Any, names: list[str], *, num: int, seed: int = 0, ema: bool = True,
                 batch_size: int = 500, device: Any = "cpu", cache_dir: Path | None = None, inception: str | None = None,
                 num_real: int | None = None, data_root: str | None = None, progress: Any = None,
                 reuse: dict[str, Any] | None = None, features: str = "auto",
                 inception_weights: str | None = None, ref_stats: str | None = None,
                 work_dir: Path | None = None, stats_dir: Path | None | bool = None) -> Evaluation:
    """Sample `num` images from a loaded run and compute `names` against its dataset (gan-eval and end-of-training eval).

    The samples are streamed: generated batch by batch, each batch's features go into running moments and,
    where a metric needs them, into feature files under `work_dir` (default: the temp dir); no more than one
    batch of samples is held. A full disk is one line before sampling.
    `reuse`: a dict kept by the caller across evaluations of the same data, seed and num (periodic evaluation):
    what it holds is used, and the real side computed here (`EvalContext.reusable`) is added to it.
    `features`: a feature space of features.FEATURE_SPACES; any but 'auto' tags the values computed in it
    ('fid[inception]'), so they never share a column with the run's default space.
    `stats_dir`: the cross-run cache of real-side statistics (None: $GAN_RUNNER_CACHE/stats; False: off).
    """
    progress = progress or no_progress
    cache_dir = cache_dir or default_cache_dir()
    stats = default_stats_dir() if stats_dir is None else (stats_dir or None)
    seconds: dict[str, float] = {}
    dataset_cfg = dict(run.config["dataset"])
    chosen = resolve_features(data.spec, features, inception)
    ctx = EvalContext(
        real=data, fake=None, dataset_cfg=dataset_cfg,
        space_factory=lambda: feature_space_for(data, dataset_cfg, cache_dir=cache_dir, inception=inception,
                                                device=device, progress=progress, features=chosen,
                                                inception_weights=inception_weights),
        classifier_factory=(lambda: dataset_classifier(data, dataset_cfg, cache_dir, device=device, progress=progress))
        if chosen != "classifier" else None,
        seed=seed, num_real=num_real, data_root=data_root, progress=progress, ref_stats=ref_stats,
        fake_batches=lambda: generate_batches(run, num, ema=ema, seed=seed, batch_size=batch_size, progress=no_progress),
        num_fake=num, work_dir=work_dir, stats_dir=stats,
    )
    ctx._memo.update(reuse or {})
    ctx.plan(planned_reads(names))
    if ctx.reads & {"moments", "features", "logits", "class_logits"}:
        t0 = time.perf_counter()
        ctx.space()  # trained or loaded once; timed apart from the metrics that share it
        if "class_logits" in ctx.reads or ("logits" in ctx.reads and not ctx.space().has_classifier):
            ctx.classifier()
        seconds["feature_net"] = round(time.perf_counter() - t0, 3)
    ctx.check_disk(ctx.work_dir or Path(tempfile.gettempdir()))  # one line before any sampling
    t0 = time.perf_counter()
    if ctx.ensure_real():
        seconds["real_features"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    ctx.ensure_fake()
    seconds["sampling_and_features"] = round(time.perf_counter() - t0, 3)
    results, metric_seconds = run_metrics(ctx, names)
    space = ctx.space_if_built()
    if features != "auto" and space is not None:
        results = tag_results(results, names, space.tag, ctx.value_tags)
    seconds.update(metric_seconds)
    if reuse is not None:
        reuse.update(ctx.reusable())
    return Evaluation(results, seconds, ctx, num)
