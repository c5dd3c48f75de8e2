"""STL-10 (Coates et al. 2011) from its binary files, prepared once (resized) into the cache and memory-mapped.

GAN papers (SNGAN, Miyato et al. 2018) train on the 100,000 unlabeled images at 48x48:
`split=unlabeled image_size=48`. The files are read through a memory map and resized chunk by
chunk, so preparing the 2.8 GB unlabeled file needs about one chunk of memory.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from gan_runner.data.base import InMemoryData
from gan_runner.errors import DataError
from gan_runner.registry import register_dataset

SIDE, CHUNK = 96, 1024
_FILES = {"train": ("train_X.bin", "train_y.bin"), "test": ("test_X.bin", "test_y.bin"),
          "unlabeled": ("unlabeled_X.bin", None)}


def _read_x(path: Path) -> np.ndarray:
    """uint8 (N, 3, 96, 96) view of an STL-10 image file (stored column-major per channel)."""
    n, rest = divmod(path.stat().st_size, 3 * SIDE * SIDE)
    if rest or not n:
        raise DataError(f"dataset 'stl10': {path} is not a whole number of 3x96x96 images; replace it")
    return np.memmap(path, dtype=np.uint8, mode="r", shape=(n, 3, SIDE, SIDE)).transpose(0, 1, 3, 2)


@register_dataset("stl10")
def stl10(*, root: str = "data", split: Literal["train", "test", "unlabeled"] = "unlabeled",
          image_size: int = 48) -> InMemoryData:
    """STL-10 under ROOT/stl10_binary (train/test: 5k/8k labeled, unlabeled: 100k), resized once and cached."""
    from gan_runner.data.cache import open_prepared
    from gan_runner.data.images import check_folder_options, resize_images
    from gan_runner.data.prepare import Made, file_key, prepare_cached

    check_folder_options("stl10", image_size, 3, "center", None)
    base = Path(root).expanduser() / "stl10_binary"
    x_name, y_name = _FILES[split]
    paths = [base / x_name, *([base / y_name] if y_name else [])]
    if not all(p.is_file() for p in paths):
        raise DataError(f"dataset 'stl10': expected {', '.join(p.name for p in paths)} under {base} "
                        f"(extract stl10_binary.tar.gz into {Path(root).expanduser()})")

    def make() -> Made:
        x = _read_x(paths[0])
        labels = None
        if y_name:
            y = np.fromfile(paths[1], dtype=np.uint8).astype(np.int64) - 1  # stored as 1..10
            if len(y) != len(x) or (len(y) and (y.min() < 0 or y.max() > 9)):
                raise DataError(f"dataset 'stl10': {paths[1]} does not match {paths[0]}; replace both")
            labels = y.tolist()
        chunks = (resize_images(torch.from_numpy(np.ascontiguousarray(x[i : i + CHUNK])), image_size).numpy()
                  for i in range(0, len(x), CHUNK))
        meta = {"source": str(base), "labels": labels, "num_classes": 10 if labels is not None else None}
        return (len(x), 3, image_size, image_size), meta, chunks

    return open_prepared(prepare_cached("stl10", file_key("stl10", paths, image_size=image_size), make), "stl10")
