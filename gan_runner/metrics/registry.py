"""The metric registry: one record per metric, saying what it needs, what it reports and which way is better.

`@register_metric("fid", reports=("fid",), needs_features=True)` on a function
`(ctx: EvalContext, *, options) -> {value name: value}` (stylegan2-ada's metric_main `@register_metric`
is the model). gan-eval, the run's final and periodic evaluations and gan-report read these records;
nothing else lists metrics, their needs or their directions. Kept beside the metrics (not in
gan_runner/registry.py) so the training side never imports them; this module imports no metric.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from gan_runner.registry import Registry

METRICS = Registry("metric")  # name -> function; builds with option checking like the other registries
# Feature networks beyond the built-in spaces (features.FEATURE_SPACES): name -> builder
# (data, dataset_cfg, cache_dir, device, progress) -> FeatureSpace; chosen with eval.features / gan-eval --features.
FEATURE_NETS = Registry("feature net")
register_feature_net = FEATURE_NETS.register


@dataclass(frozen=True)
class MetricRecord:
    """What one metric needs from a run and what it reports."""

    name: str
    reports: tuple[str, ...]  # the value names it returns, in order
    higher_is_better: frozenset[str] = frozenset()  # reported values where larger wins; the others: smaller wins
    plus_minus: Mapping[str, str] = field(default_factory=dict)  # value -> the value holding its spread (kid -> kid_std)
    main: str = ""  # the value eval.best=auto ranks checkpoints by (default: the first reported)
    needs_images: bool = False  # pixels (not 2D points)
    needs_features: bool = False  # a feature space: points are their own; images need labels or external features
    needs_classifier: bool = False  # class posteriors of some classifier (the dataset's or ImageNet's)
    needs_labels: bool = False  # the dataset's own classifier (its classes are the data's labels)
    needs_conditional: bool = False  # a class-conditional model (model.requires_labels)
    needs_codes: bool = False  # InfoGAN codes (model.has_codes)
    datasets: tuple[str, ...] = ()  # only these datasets (empty: any)
    dataset_hint: str = ""  # how to say what `datasets` are, in the error line
    uses_mnist_test: bool = False  # reads MNIST's official test split when it is on disk (falls back otherwise)
    # What it reads of the evaluated sets (EvalContext.READS), so one streamed pass computes all of it:
    # moments (FID), features (k-NN, KID), logits (IS), class_logits (the dataset classifier's), samples (pixels).
    reads: tuple[str, ...] = ()

    @property
    def main_value(self) -> str:
        """The value that stands for the metric (checkpoint selection)."""
        return self.main or self.reports[0]


RECORDS: dict[str, MetricRecord] = {}


def register_metric(name: str, *, reports: tuple[str, ...], higher: tuple[str, ...] = (),
                    plus_minus: Mapping[str, str] | None = None, **needs: object
                    ) -> Callable[[Callable[..., dict[str, float]]], Callable[..., dict[str, float]]]:
    """Decorator: register a metric function with its record (see MetricRecord for the fields)."""
    record = MetricRecord(name, tuple(reports), frozenset(higher), dict(plus_minus or {}), **needs)  # type: ignore[arg-type]
    unknown = (set(record.higher_is_better) | set(record.plus_minus) | set(record.plus_minus.values())) - set(reports)
    if unknown or (record.main and record.main not in reports):
        raise ValueError(f"metric '{name}': {sorted(unknown) or record.main} not among its reported values")

    def wrap(fn: Callable[..., dict[str, float]]) -> Callable[..., dict[str, float]]:
        METRICS.register(name)(fn)
        RECORDS[name] = record
        return fn

    return wrap


def record(name: str) -> MetricRecord:
    """The record of a registered metric, or a ConfigError listing the known ones."""
    METRICS.get(name)  # raises "unknown metric 'x' (known: ...)"
    return RECORDS[name]


def value_name(key: str) -> str:
    """A result key without its feature-space tag: 'fid[mnist_5k-clf]' -> 'fid'."""
    return key.split("[", 1)[0]


def record_of_value(value: str) -> MetricRecord | None:
    """The record of the metric that reports `value` (tags like '[inception]' ignored; None: no metric does)."""
    value = value_name(value)
    return next((r for r in RECORDS.values() if value in r.reports), None)


def higher_is_better(value: str) -> bool:
    """Whether a larger reported `value` is better; values no metric reports count as lower-is-better (losses)."""
    r = record_of_value(value)
    return r is not None and value_name(value) in r.higher_is_better


def plus_minus() -> dict[str, str]:
    """Every reported value that has a spread -> the value holding the spread."""
    return {k: v for r in RECORDS.values() for k, v in r.plus_minus.items()}
