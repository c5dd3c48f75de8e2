"""LSUN (Yu et al. 2015), one category, from torchvision's lmdb layout, prepared once into the cache.

Needs the optional `lmdb` package (pip install lmdb); without it, or without the files, one line
says what is missing. This process reads the lmdb values in order and hands their bytes to the
decoding worker processes (prepare.decode_chunks: the cursor itself never crosses a fork), which
center-crop and resize like image folders.
"""
from __future__ import annotations

from collections import deque
from contextlib import closing
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np

from gan_runner.data.base import InMemoryData
from gan_runner.errors import ConfigError, DataError
from gan_runner.registry import register_dataset


def _open(folder: Path) -> Any:
    import lmdb

    return lmdb.open(str(folder), readonly=True, lock=False, readahead=False, meminit=False)


@register_dataset("lsun")
def lsun(*, root: str = "data", category: str = "bedroom", split: Literal["train", "val"] = "train",
         image_size: int = 64, max_images: int | None = None, workers: int | None = None) -> InMemoryData:
    """One LSUN category under ROOT/{category}_{split}_lmdb (data.mdb), center-cropped and resized once."""
    from gan_runner.data import prepare
    from gan_runner.data.cache import open_prepared
    from gan_runner.data.images import check_folder_options
    from gan_runner.data.prepare import Made, file_key, prepare_cached

    check_folder_options("lsun", image_size, 3, "center", workers)
    if max_images is not None and max_images < 1:
        raise ConfigError(f"dataset 'lsun': max_images must be >= 1 or null (all), got {max_images}")
    folder = Path(root).expanduser() / f"{category}_{split}_lmdb"
    if not (folder / "data.mdb").is_file():
        raise DataError(f"dataset 'lsun': expected {folder}/data.mdb (torchvision's LSUN layout: "
                        f"unzip {category}_{split}_lmdb.zip into {Path(root).expanduser()})")
    try:
        import lmdb  # noqa: F401
    except ImportError:
        raise DataError("dataset 'lsun' reads lmdb databases: pip install lmdb") from None

    def make() -> Made:
        env = _open(folder)
        with env.begin() as txn:
            entries = txn.stat()["entries"]
        env.close()  # closed before the decoding workers fork; reopened below for reading
        n = entries if max_images is None else min(max_images, entries)
        if n == 0:
            raise DataError(f"dataset 'lsun': {folder}/data.mdb holds no images; unzip {folder.name}.zip again")
        ids: deque[list[bytes]] = deque()  # the image ids of each chunk in flight, to name a bad one

        def tasks() -> Iterator[prepare.Task]:
            env = _open(folder)
            try:
                with env.begin() as txn:
                    blobs: list[str | bytes] = []
                    keys: list[bytes] = []
                    for i, (k, v) in enumerate(txn.cursor()):
                        if i == n:
                            break
                        blobs.append(bytes(v))
                        keys.append(bytes(k))
                        if len(blobs) == prepare.CHUNK or i == n - 1:
                            ids.append(keys)
                            yield blobs, image_size, 3, "center"
                            blobs, keys = [], []
            finally:
                env.close()

        def chunks() -> Iterator[np.ndarray]:
            n_workers = prepare.default_workers() if workers is None else workers
            with closing(prepare.decode_chunks(tasks(), n_workers if n > prepare.CHUNK else 1)) as decoded:
                for arr, bad in decoded:
                    keys = ids.popleft()
                    if bad:
                        (i, why), more = bad[0], f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
                        raise DataError(f"dataset 'lsun': cannot read image {keys[i].decode(errors='replace')} in "
                                        f"{folder} ({why}){more}; the database is damaged, unzip it again")
                    yield arr

        return (n, 3, image_size, image_size), {"source": str(folder), "labels": None, "num_classes": None}, chunks()

    key = file_key("lsun", [folder / "data.mdb"], category=category, split=split, image_size=image_size,
                   max_images=max_images)
    return open_prepared(prepare_cached("lsun", key, make), "lsun")
