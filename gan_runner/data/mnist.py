"""MNIST and Fashion-MNIST from their IDX files (plain or .gz), resized once into the cache and memory-mapped.

The files are read here (torchvision's MNIST class wants all four decompressed); `download=true`
lets torchvision fetch and check them first. The cache key is the two files' names, sizes and
mtimes plus the image size, so replacing a file prepares again.
"""
from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path

import torch

from gan_runner.data.base import InMemoryData
from gan_runner.data.cache import open_prepared
from gan_runner.data.images import READ_ERRORS, Split, check_image_size, one_line, resize_images
from gan_runner.data.prepare import Made, file_key, prepare_cached
from gan_runner.errors import DataError
from gan_runner.registry import register_dataset

CHUNK = 4096  # images resized and written per step: 4096 x 32 x 32 = 4 MB


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


def _read_checked(name: str, path: Path) -> torch.Tensor:
    try:
        return read_idx_uint8(path)
    except READ_ERRORS as e:
        raise DataError(f"dataset '{name}': cannot read {path} ({one_line(e)}); replace it with the official file") from e


def _download(name: str, folder: str, root: str, split: Split, raw: Path, expected: str) -> None:
    """torchvision's download (with its checksums) into ROOT/FOLDER/raw, as one DataError if it fails."""
    import torchvision.datasets as tvd  # looked up at call time so tests can stand in a fake

    try:
        getattr(tvd, folder)(root, train=split == "train", download=True)
    except READ_ERRORS as e:
        raise DataError(f"dataset '{name}': download into {raw} failed ({one_line(e)}); "
                        f"check the internet connection or put {expected} there yourself") from e


def load_mnist_like(name: str, folder: str, root: str, download: bool, split: Split, image_size: int) -> InMemoryData:
    """MNIST or Fashion-MNIST under {root}/{folder}/raw (downloaded first if asked), prepared once."""
    check_image_size(name, image_size, 32)
    raw = Path(root).expanduser() / folder / "raw"
    prefix = "train" if split == "train" else "t10k"
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    expected = ", ".join(f"{s}[.gz]" for s in stems)
    found = [_find_idx(raw, s) for s in stems]
    if not all(found):
        if not download:
            raise DataError(f"dataset '{name}': no data under {raw} (expected {expected}); "
                            f"put the files there or set dataset.download=true (needs internet)")
        _download(name, folder, root, split, raw, expected)
        found = [_find_idx(raw, s) for s in stems]
        if not all(found):
            raise DataError(f"dataset '{name}': the download left no {expected} in {raw}; put them there yourself")
    images, labels = found[0], found[1]
    assert images is not None and labels is not None

    def make() -> Made:
        x, y = _read_checked(name, images), _read_checked(name, labels)
        if x.dim() != 3 or y.dim() != 1 or x.shape[0] != y.shape[0] or (y.numel() and int(y.max()) > 9):
            raise DataError(
                f"dataset '{name}': {images} and {labels} are not a matching image/label pair "
                f"(images {tuple(x.shape)}, labels {tuple(y.shape)}, digits 0-9); "
                f"replace them with the official {split} files"
            )
        chunks = (resize_images(x[i : i + CHUNK].unsqueeze(1), image_size).numpy() for i in range(0, len(x), CHUNK))
        meta = {"source": str(raw), "labels": y.tolist(), "num_classes": 10}
        return (len(x), 1, image_size, image_size), meta, chunks

    key = file_key(name, [images, labels], image_size=image_size)
    return open_prepared(prepare_cached(name, key, make), name, flippable=name != "mnist")  # digits are not; clothes are


@register_dataset("mnist")
def mnist(*, root: str = "data", download: bool = False, split: Split = "train", image_size: int = 32) -> InMemoryData:
    """MNIST (60k train / 10k test) from IDX files under {root}/MNIST/raw, or downloaded."""
    return load_mnist_like("mnist", "MNIST", root, download, split, image_size)


@register_dataset("fashion_mnist")
def fashion_mnist(
    *, root: str = "data", download: bool = False, split: Split = "train", image_size: int = 32
) -> InMemoryData:
    """Fashion-MNIST (60k train / 10k test) from IDX files under {root}/FashionMNIST/raw, or downloaded."""
    return load_mnist_like("fashion_mnist", "FashionMNIST", root, download, split, image_size)
