"""CIFAR-10 from its python batches (ROOT/cifar-10-batches-py), resized once into the cache and memory-mapped.

The batches are pickles; they are read with an unpickler that can build only dicts, lists, numbers,
strings and numpy arrays, so a planted file cannot run code (torchvision trusts them after an md5
check, which would also reject the tiny fake copies tests build). `download=true` lets torchvision
fetch, check and extract the archive first.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_runner.data.base import InMemoryData
from gan_runner.data.cache import open_prepared
from gan_runner.data.images import READ_ERRORS, Split, check_image_size, one_line, resize_images
from gan_runner.data.prepare import Made, file_key, prepare_cached
from gan_runner.errors import DataError
from gan_runner.registry import register_dataset

FOLDER = "cifar-10-batches-py"
FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
EXPECTED = "data_batch_1..data_batch_5 (train), test_batch (test)"
SIDE = 32
CHUNK = 4096


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and plain containers only: any other global in the file is refused."""

    # _codecs.encode: how protocol 2 stores bytes when Python 3 writes it (re-pickled copies of the batches)
    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in the file")
        if module == "_codecs":
            import codecs

            return codecs.encode
        if name == "_reconstruct":
            try:
                from numpy._core.multiarray import _reconstruct  # numpy >= 2 (numpy.core warns there)
            except ImportError:
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        return getattr(np, name)


def read_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    """One CIFAR python batch: uint8 images (n, 3, 32, 32) and labels 0..9; ValueError if it is not one."""
    with open(path, "rb") as f:
        batch = _ArrayUnpickler(f, encoding="latin1").load()  # latin1: the batches were pickled by Python 2
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise ValueError("not a CIFAR-10 batch (no 'data' and 'labels')")
    data, labels = np.asarray(batch["data"]), [int(v) for v in batch["labels"]]
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * SIDE * SIDE or len(labels) != len(data):
        raise ValueError(f"images {data.shape} {data.dtype} and {len(labels)} labels are not uint8 (n, 3072) and n")
    if labels and not 0 <= min(labels) <= max(labels) <= 9:
        raise ValueError("labels outside 0..9")
    return data.reshape(-1, 3, SIDE, SIDE), labels  # rows hold R, G, B planes of 32 x 32, i.e. (C, H, W)


def _download(root: str, split: Split, folder: Path) -> None:
    """torchvision's download (md5-checked, extracted into ROOT), as one DataError if it fails."""
    import torchvision.datasets as tvd  # looked up at call time so tests can stand in a fake

    try:
        tvd.CIFAR10(root, train=split == "train", download=True)
    except READ_ERRORS as e:
        raise DataError(f"dataset 'cifar10': download into {folder} failed ({one_line(e)}); check the internet "
                        f"connection or extract cifar-10-python.tar.gz into {root} yourself (expected {EXPECTED})") from e


@register_dataset("cifar10")
def cifar10(
    *, root: str = "data", download: bool = False, split: Split = "train", image_size: int = 32
) -> InMemoryData:
    """CIFAR-10 (50k train / 10k test, 32x32 RGB) from ROOT/cifar-10-batches-py (or downloaded), prepared once."""
    check_image_size("cifar10", image_size, 32)
    folder = Path(root).expanduser() / FOLDER
    paths = [folder / f for f in FILES[split]]
    if not all(p.is_file() for p in paths):
        if not download:
            missing = ", ".join(p.name for p in paths if not p.is_file())
            raise DataError(f"dataset 'cifar10': no complete data under {folder} (missing {missing}; expected "
                            f"{EXPECTED}); extract cifar-10-python.tar.gz into {root} or set dataset.download=true "
                            f"(needs internet)")
        _download(root, split, folder)

    def make() -> Made:
        parts = []
        for p in paths:
            try:
                parts.append(read_batch(p))
            except (*READ_ERRORS, pickle.UnpicklingError, TypeError, KeyError, AttributeError) as e:
                raise DataError(f"dataset 'cifar10': cannot read {p} ({one_line(e)}); "
                                f"extract cifar-10-python.tar.gz into {root} again") from None
        labels = [v for _, y in parts for v in y]
        chunks = (resize_images(torch.from_numpy(x[i : i + CHUNK]), image_size).numpy()
                  for x, _ in parts for i in range(0, len(x), CHUNK))
        meta = {"source": str(folder), "labels": labels, "num_classes": 10}
        return (len(labels), 3, image_size, image_size), meta, chunks

    key = file_key("cifar10", paths, image_size=image_size)
    return open_prepared(prepare_cached("cifar10", key, make), "cifar10")
