"""CelebA (Liu et al. 2015) in torchvision's on-disk layout, through the same preparation as image folders.

The 178 x 218 aligned faces are center-cropped to 140 x 140 and resized (the GAN preprocessing the
project's issue #13 names; DCGAN-era code used 108-160): `crop_size` changes it. Unlabeled: GANs
train on the faces alone.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from gan_runner.data.base import InMemoryData
from gan_runner.data.sources import FolderSource
from gan_runner.errors import ConfigError, DataError
from gan_runner.registry import register_dataset

SPLITS = {"train": "0", "valid": "1", "test": "2"}
EXPECTED = "celeba/img_align_celeba/*.jpg and celeba/list_eval_partition.txt"


def celeba_files(root: str, split: str) -> FolderSource:
    """The split's image files under ROOT/celeba (torchvision's layout), or a one-line DataError naming them."""
    base = Path(root).expanduser() / "celeba"
    images, parts = base / "img_align_celeba", base / "list_eval_partition.txt"
    if not images.is_dir() or not parts.is_file():
        raise DataError(f"dataset 'celeba': expected {EXPECTED} under {Path(root).expanduser()} (torchvision's "
                        f"CelebA layout; img_align_celeba.zip and list_eval_partition.txt from the CelebA site)")
    names = []
    for line in parts.read_text().split("\n"):
        fields = line.split()
        if len(fields) == 2 and (split == "all" or fields[1] == SPLITS[split]):
            names.append(fields[0])
    stats, missing = [], []
    for n in names:  # one stat per file, with plain strings: the key needs size and mtime anyway
        try:
            st = os.stat(os.path.join(images, n))
            stats.append((st.st_size, st.st_mtime_ns))
        except OSError:
            missing.append(n)
    if missing:
        raise DataError(f"dataset 'celeba': {len(missing)} files listed in {parts} are missing from {images} "
                        f"(e.g. {missing[0]}); extract img_align_celeba.zip there again")
    if not names:
        raise DataError(f"dataset 'celeba': {parts} lists no images for split '{split}'")
    return FolderSource(images, names, None, None, 0, stats)


@register_dataset("celeba")
def celeba(*, root: str = "data", split: Literal["train", "valid", "test", "all"] = "train", image_size: int = 64,
           crop_size: int = 140, workers: int | None = None) -> InMemoryData:
    """CelebA aligned faces of a split, center-cropped to crop_size, resized, prepared once into the cache."""
    from gan_runner.data.cache import open_prepared
    from gan_runner.data.images import check_folder_options
    from gan_runner.data.prepare import prepare_source

    check_folder_options("celeba", image_size, 3, "center", workers)
    if crop_size < 4:
        raise ConfigError(f"dataset 'celeba': crop_size must be >= 4, got {crop_size}; set dataset.crop_size=140")
    src = celeba_files(root, split)
    folder = prepare_source(src, image_size=image_size, crop=crop_size, workers=workers, name="celeba")
    return open_prepared(folder, "celeba")
