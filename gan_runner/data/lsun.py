"""LSUN (Yu et al. 2015), one category, from torchvision's lmdb layout, prepared once into the cache.

Needs the optional `lmdb` package (pip install lmdb); without it, or without the files, one line
says what is missing. Images are decoded in this process (an lmdb cursor is not shared across
forks), center-cropped and resized like image folders.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Literal

import torch

from gan_runner.data.base import InMemoryData
from gan_runner.errors import DataError
from gan_runner.registry import DATASETS

CHUNK = 256


@DATASETS.register("lsun")
def lsun(*, root: str = "data", category: str = "bedroom", split: Literal["train", "val"] = "train",
         image_size: int = 64, max_images: int | None = None) -> InMemoryData:
    """One LSUN category under ROOT/{category}_{split}_lmdb (data.mdb), center-cropped and resized once."""
    from gan_runner.data.cache import PreparedWriter, default_cache_dir, open_prepared, read_meta
    from gan_runner.data.decode import BadImage, decode_bytes, resize_one, square
    from gan_runner.data.images import check_folder_options

    check_folder_options("lsun", image_size, 3, "center", None)
    folder = Path(root).expanduser() / f"{category}_{split}_lmdb"
    if not (folder / "data.mdb").is_file():
        raise DataError(f"dataset 'lsun': expected {folder}/data.mdb (torchvision's LSUN layout: "
                        f"unzip {category}_{split}_lmdb.zip into {Path(root).expanduser()})")
    try:
        import lmdb
    except ImportError:
        raise DataError("dataset 'lsun' reads lmdb databases: pip install lmdb") from None
    st = (folder / "data.mdb").stat()
    key = "lsun-" + hashlib.sha256(json.dumps([category, split, st.st_size, st.st_mtime_ns, image_size,
                                               max_images]).encode()).hexdigest()[:16]
    out = default_cache_dir() / key
    if read_meta(out) is None:
        env = lmdb.open(str(folder), readonly=True, lock=False, readahead=False, meminit=False)
        with env.begin() as txn:
            n = txn.stat()["entries"] if max_images is None else min(max_images, txn.stat()["entries"])
            print(f"preparing {n:,} LSUN {category} images -> {out}", file=sys.stderr)
            writer = PreparedWriter(out, (n, 3, image_size, image_size))
            try:
                chunk: list[torch.Tensor] = []
                for i, (k, v) in enumerate(txn.cursor()):
                    if i == n:
                        break
                    try:
                        chunk.append(resize_one(square(decode_bytes(bytes(v), folder, 3), "center"), image_size))
                    except BadImage as e:
                        raise DataError(f"dataset 'lsun': cannot read image {k.decode(errors='replace')} "
                                        f"in {folder} ({e}); the database is damaged, unzip it again") from None
                    if len(chunk) == CHUNK:
                        writer.write(torch.stack(chunk).numpy())
                        chunk = []
                if chunk:
                    writer.write(torch.stack(chunk).numpy())
                writer.commit({"key": key, "source": str(folder), "labels": None, "num_classes": None}, n)
            except BaseException:
                writer.abort()
                raise
        env.close()
    return open_prepared(out, "lsun")



