"""Which feature space an evaluation uses: the dataset's classifier, the label-free net, an Inception, or 2D points."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from gan_runner.data.base import DataSpec, InMemoryData
from gan_runner.data.stacked import source_config
from gan_runner.errors import DataError, UserError
from gan_runner.metrics.classifier import load_or_train
from gan_runner.metrics.fid_inception import fetch_weights, fid_inception_space, read_weights
from gan_runner.metrics.inception import check_weights_file, inception_space
from gan_runner.metrics.label_free import label_free_space
from gan_runner.metrics.registry import FEATURE_NETS
from gan_runner.metrics.space import FeatureSpace, default_cache_dir
from gan_runner.metrics.stacked import stacked_space
from gan_runner.progress import ProgressFn, no_progress


def dataset_classifier(data: InMemoryData, dataset_cfg: Mapping[str, Any], cache_dir: Path, *,
                       device: torch.device | str = "cpu", progress: ProgressFn = no_progress) -> FeatureSpace:
    """The run's own classifier: stacked_mnist's is its source digits' classifier per channel, others are trained on their labels."""
    if data.spec.stacked_digits:  # each channel a digit: the source digits' classifier per channel
        return stacked_space(dataset_cfg, cache_dir, device=device, progress=progress)
    return load_or_train(data, dataset_cfg, cache_dir, device=device, progress=progress)


def point_space() -> FeatureSpace:
    """2D toy data are their own features (FID/PR on coordinates); there is no classifier."""
    return FeatureSpace("points", None, torch.device("cpu"), {"kind": "raw coordinates", "tag": "points"},
                        has_classifier=False)


FEATURE_SPACES = ("auto", "classifier", "label-free", "inception", "inception-torchvision", "points")


def feature_space_names() -> tuple[str, ...]:
    """The built-in spaces and the registered feature nets (plugins: register_feature_net)."""
    return (*FEATURE_SPACES, *FEATURE_NETS.names())


CLI_FLAGS = {"features": "--features {}", "inception": "--inception PATH"}  # how gan-eval's user names these
CONFIG_FLAGS = {"features": "eval.features={}", "inception": "eval.inception=PATH"}  # how a run config names them


def check_features(features: str, spec: DataSpec | None = None, *, inception: str | Path | None = None,
                   inception_weights: str | Path | None = None, flags: Mapping[str, str] = CLI_FLAGS) -> None:
    """The one check of a feature-space request (gan-eval's flags, a run's eval section, the library's arguments):
    a known space, that fits the data (when `spec` is given), with the weights it needs, read before any sampling."""
    named = flags["features"].format(features)
    if features not in feature_space_names():
        raise UserError(f"{named} is not a feature space (known: {', '.join(feature_space_names())})")
    if spec is not None:
        if features not in ("auto", "points") and features not in FEATURE_NETS and not spec.is_image:
            raise UserError(f"{named} needs image data; dataset '{spec.name}' is 2D points (use auto)")
        if features == "points" and spec.is_image:
            raise UserError(f"{named} is for 2D data; dataset '{spec.name}' is images")
        if features == "classifier" and not spec.num_classes:
            raise UserError(f"{named} needs labels; dataset '{spec.name}' has none (use label-free)")
    if features == "inception-torchvision" and not inception:
        raise UserError(f"{named} needs {flags['inception']} (torchvision inception_v3 weights)")
    if inception:
        check_weights_file(inception)
    if inception_weights:
        read_weights(inception_weights)  # a wrong, truncated or code-carrying file fails before sampling
    elif features == "inception":
        read_weights(fetch_weights())  # downloaded (or found in the hub cache) before sampling; offline: one line


def expected_space_tags(features: str, spec: DataSpec, dataset_cfg: Mapping[str, Any]) -> tuple[str, str] | None:
    """The tags a run's results will carry under `features` (space, and IS's class posteriors), known before the space
    is built (HParams registers its columns at start); None for auto (untagged keys).

    Each branch mirrors the tag its space's builder writes (tests/test_dashboards.py checks them against real
    evaluations). A plugin's feature net names its own tag, unknown until built: its registered name stands in.
    """
    if features == "auto":
        return None
    if features in ("inception", "inception-torchvision", "points"):
        return features, features  # SPACE_NAME, inception.TAG, point_space(): each space its own posteriors
    if features in FEATURE_NETS:
        return features, features
    clf = (f"{source_config(dataset_cfg)['name']}-clf-per-channel" if spec.stacked_digits else f"{spec.name}-clf")
    return (f"{spec.name}-rot", clf) if features == "label-free" else (clf, clf)


def resolve_features(spec: DataSpec, features: str = "auto", inception: str | Path | None = None) -> str:
    """The feature space 'auto' means for this data (or `features` itself, checked)."""
    if features not in feature_space_names():
        raise UserError(f"unknown feature space '{features}' (known: {', '.join(feature_space_names())})")
    if features != "auto":
        return features
    if inception is not None:
        return "inception-torchvision"
    return "points" if not spec.is_image else "classifier" if spec.num_classes else "label-free"


def feature_space_for(data: InMemoryData, dataset_cfg: Mapping[str, Any], *, cache_dir: Path | None = None,
                      inception: str | Path | None = None, device: torch.device | str = "cpu",
                      progress: ProgressFn = no_progress, features: str = "auto",
                      inception_weights: str | Path | None = None) -> FeatureSpace:
    """The feature space asked for; 'auto': torchvision Inception if --inception is given, raw points for 2D data,
    the dataset's cached classifier where it has labels, else the label-free rotation net."""
    features = resolve_features(data.spec, features, inception)
    if features != "points" and features not in FEATURE_NETS and not data.spec.is_image:
        raise UserError(f"--features {features} needs image data; dataset '{data.spec.name}' is 2D points")
    if features == "points":
        return point_space()
    if features == "inception":
        return fid_inception_space(inception_weights, device)
    if features == "inception-torchvision":
        if inception is None:
            check_features(features)  # raises its one line: the weights path is missing
        return inception_space(inception, device)
    cache_dir = cache_dir or default_cache_dir()
    if features in FEATURE_NETS:
        return FEATURE_NETS.build(features, data, dataset_cfg, cache_dir, torch.device(device), progress)
    try:
        if features == "label-free":
            return label_free_space(data, dataset_cfg, cache_dir, device=device, progress=progress)
        return dataset_classifier(data, dataset_cfg, cache_dir, device=device, progress=progress)
    except OSError as e:  # e.g. a read-only or full cache dir
        raise DataError(f"feature-net cache {cache_dir} is not writable ({e}); set --cache-dir or GAN_RUNNER_CACHE") from e
