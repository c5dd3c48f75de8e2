"""Which feature space an evaluation uses: the dataset's cached classifier, Inception, or raw 2D points."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from gan_runner.data.base import InMemoryData
from gan_runner.data.stacked import NAME as STACKED
from gan_runner.errors import DataError, UserError
from gan_runner.metrics.classifier import load_or_train
from gan_runner.metrics.inception import inception_space
from gan_runner.metrics.space import FeatureSpace, default_cache_dir
from gan_runner.metrics.stacked import stacked_space
from gan_runner.progress import ProgressFn, no_progress


def dataset_classifier(data: InMemoryData, dataset_cfg: Mapping[str, Any], cache_dir: Path, *,
                       device: torch.device | str = "cpu", progress: ProgressFn = no_progress) -> FeatureSpace:
    """The run's own classifier: stacked_mnist's is its source digits' classifier per channel, others are trained on their labels."""
    if data.spec.name == STACKED:
        return stacked_space(dataset_cfg, cache_dir, device=device, progress=progress)
    return load_or_train(data, dataset_cfg, cache_dir, device=device, progress=progress)


def point_space() -> FeatureSpace:
    """2D toy data are their own features (FID/PR on coordinates); there is no classifier."""
    return FeatureSpace("points", None, torch.device("cpu"), {"kind": "raw coordinates"}, has_classifier=False)


def feature_space_for(data: InMemoryData, dataset_cfg: Mapping[str, Any], *, cache_dir: Path | None = None,
                      inception: str | Path | None = None, device: torch.device | str = "cpu",
                      progress: ProgressFn = no_progress) -> FeatureSpace:
    """InceptionV3 when weights are given, raw points for 2D data, else the dataset's cached classifier (dataset_classifier)."""
    if inception is not None:
        if not data.spec.is_image:
            raise UserError(f"--inception needs image data; dataset '{data.spec.name}' is 2D points")
        return inception_space(inception, device)
    if not data.spec.is_image:
        return point_space()
    try:
        return dataset_classifier(data, dataset_cfg, cache_dir or default_cache_dir(), device=device, progress=progress)
    except OSError as e:  # e.g. a read-only or full cache dir
        raise DataError(f"feature-net cache {cache_dir or default_cache_dir()} is not writable ({e}); "
                        "set --cache-dir or GAN_RUNNER_CACHE") from e
