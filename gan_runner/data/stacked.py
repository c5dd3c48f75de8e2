"""Stacked MNIST (Metz et al. 2016; VEEGAN; PacGAN, Lin et al. 2018): three digits as the R, G, B channels.

Each sample stacks three digits drawn uniformly at random (with replacement) from a source digit
set, so the data has 10^3 = 1,000 equally likely modes, one per digit triple; its label is the
mode id 100 * d_R + 10 * d_G + d_B. PacGAN drew 128,000 samples from MNIST's 60k training set;
offline the source is mnist_5k (5,000 real MNIST training digits). Which digits are stacked
depends on `seed` alone (a dedicated generator), never on the training seed, so every run on the
same config sees the same data.
"""
from __future__ import annotations

from typing import Any, Literal, Mapping

import torch

from gan_runner.data.base import DataSpec, InMemoryData
from gan_runner.errors import ConfigError
from gan_runner.registry import DATASETS, register_dataset

NAME = "stacked_mnist"
Source = Literal["mnist_5k", "mnist", "digits"]
NUM_CHANNELS = 3  # R, G, B: one digit each
NUM_MODES = 10**NUM_CHANNELS
DEFAULT_SIZE = 50_000  # 50,000 x 3 x 32 x 32 uint8 = 154 MB; PacGAN's 128,000 = 393 MB (size=128000)


def source_config(dataset_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The config of the single-channel digit set a stacked_mnist config draws from (its classifier is trained on it)."""
    source = dataset_cfg.get("source", "mnist_5k")
    cfg: dict[str, Any] = {"name": source, "image_size": dataset_cfg.get("image_size", 32)}
    if source == "mnist":  # the keys conf/dataset/mnist.yaml has, so the feature-net cache is shared with mnist runs
        cfg.update(root=dataset_cfg.get("root", "data"), download=dataset_cfg.get("download", False), split="train")
    return cfg


def draw_triples(n_source: int, size: int, seed: int) -> torch.Tensor:
    """(size, 3) int64 source indices, uniform with replacement, from a generator seeded by `seed` only."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, n_source, (size, NUM_CHANNELS), generator=gen)


def mode_ids(digits: torch.Tensor) -> torch.Tensor:
    """Digit triples (N, 3) -> mode ids (N,) = 100 * d_R + 10 * d_G + d_B."""
    weights = torch.tensor([100, 10, 1], dtype=torch.int64, device=digits.device)
    return (digits.long() * weights).sum(dim=1)


def stack_digits(x: torch.Tensor, y: torch.Tensor, triples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Source digits uint8 (M, 1, H, W) + labels (M,) and indices (N, 3) -> uint8 (N, 3, H, W) and mode ids (N,)."""
    assert x.shape[1] == 1, f"source digits must be single-channel, got {tuple(x.shape)}"
    stacked = x[:, 0][triples]  # (N, 3, H, W): channel c is source image triples[:, c]
    return stacked.contiguous(), mode_ids(y[triples])


@register_dataset(NAME)
def stacked_mnist(*, source: Source = "mnist_5k", size: int = DEFAULT_SIZE, image_size: int = 32, seed: int = 0,
                  root: str = "data", download: bool = False) -> InMemoryData:
    """`size` RGB images whose channels are three random source digits; labels are the 1,000 triple ids."""
    if size < 1:
        raise ConfigError(f"dataset 'stacked_mnist': size must be >= 1, got {size}; set dataset.size={DEFAULT_SIZE}")
    cfg = source_config({"source": source, "image_size": image_size, "root": root, "download": download})
    digits = DATASETS.build(source, options={k: v for k, v in cfg.items() if k != "name"})
    assert digits.y is not None
    x, y = stack_digits(digits.x, digits.y, draw_triples(len(digits), size, seed))
    spec = DataSpec(name=NAME, shape=tuple(x.shape[1:]), num_classes=NUM_MODES, is_image=True, flippable=False,
                    stacked_digits=NUM_CHANNELS)
    return InMemoryData(x, y, spec)
