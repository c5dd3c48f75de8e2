"""Datasets: builders registered in DATASETS (importing this package registers them all)."""
from __future__ import annotations

from typing import Any, Mapping

from gan_runner.data import celeba, cifar, images, lsun, mnist, stacked, stl10, toy  # noqa: F401  (imported so their builders register)
from gan_runner.data.base import BatchStream, DataSpec, InMemoryData, to_uint8_images
from gan_runner.data.placement import build_stream, check_stream_options
from gan_runner.data.toy import mode_centers, toy_modes
from gan_runner.errors import ConfigError
from gan_runner.registry import DATASETS

__all__ = [
    "BatchStream",
    "DataSpec",
    "InMemoryData",
    "build_dataset",
    "build_stream",
    "mode_centers",
    "to_uint8_images",
    "toy_modes",
]

# Keys of a dataset config that the runner uses itself (batch stream, placement), not options of the builder.
_RUNNER_KEYS = ("name", "batch_size", "placement", "xflip")


def build_dataset(cfg: Mapping[str, Any]) -> InMemoryData:
    """Build the dataset a `dataset` config group names, passing its other keys as checked options."""
    if "name" not in cfg:
        known = ", ".join(DATASETS.names())
        raise ConfigError(f"the dataset config has no 'name'; pick one with dataset=NAME (known: {known})")
    check_stream_options(cfg)  # a typo here fails now, not after a long first preparation
    rest = {k: v for k, v in cfg.items() if k not in _RUNNER_KEYS}
    return DATASETS.build(cfg["name"], options=rest)
