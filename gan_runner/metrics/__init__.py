"""Sample-quality measures; importing this package registers every metric in METRICS.

Each metric module registers its metrics when imported (the imports below import them all).
torchmetrics is imported inside the functions that use it, so importing the package stays cheap.
"""
from gan_runner.metrics.conditional import class_accuracy, code_purity
from gan_runner.metrics.context import EvalContext
from gan_runner.metrics.fid_kid_is import fid_from_features, inception_score_from_logits, kid_from_features
from gan_runner.metrics.frechet import frechet_distance
from gan_runner.metrics.modes import mode_stats
from gan_runner.metrics.parzen import parzen_estimate, parzen_log_likelihood
from gan_runner.metrics.precision_recall import density_coverage, precision_recall
from gan_runner.metrics.registry import METRICS, RECORDS, MetricRecord, record
from gan_runner.metrics.stacked import stacked_mode_stats
from gan_runner.metrics.two_sample import nn_two_sample_accuracy

__all__ = [
    "METRICS",
    "RECORDS",
    "EvalContext",
    "MetricRecord",
    "class_accuracy",
    "code_purity",
    "density_coverage",
    "fid_from_features",
    "frechet_distance",
    "inception_score_from_logits",
    "kid_from_features",
    "mode_stats",
    "nn_two_sample_accuracy",
    "parzen_estimate",
    "parzen_log_likelihood",
    "precision_recall",
    "record",
    "stacked_mode_stats",
]
