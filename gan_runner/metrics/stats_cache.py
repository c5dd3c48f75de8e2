"""Cross-run cache of the real side's FID statistics per (dataset, feature network, count, subset seed).

The real side of FID (mean and covariance of the real images' features) depends only on the data, the
feature network's weights and which real images are used; repeated gan-eval runs and every training run on
the same dataset would otherwise recompute it. An entry is an npz under $GAN_RUNNER_CACHE/stats/ written
atomically; it holds its own key, so a reader checks it is the entry it wanted. A corrupt, truncated or
mismatched entry is ignored (recomputed and overwritten), never trusted.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from gan_runner.atomic import write_npz
from gan_runner.metrics.classifier import cache_key
from gan_runner.metrics.space import FeatureSpace

STATS_VERSION = 1  # bump when what the statistics mean changes (subset draw, preprocessing)


def data_digest(x: torch.Tensor, probes: int = 256) -> str:
    """A digest of ~`probes` evenly spaced images: an image folder whose files were replaced under the same
    config gets another entry (hashing every image of a large set would cost more than the features)."""
    step = max(1, len(x) // probes)
    return hashlib.sha256(x[::step].contiguous().numpy().tobytes()).hexdigest()[:16]


def stats_key(dataset_cfg: Mapping[str, Any], space: FeatureSpace, num: int, seed: int, real: torch.Tensor) -> str:
    """The entry's identity: dataset config and a digest of its images, the net's weight digest, how many real
    images and which (seed)."""
    total = len(real)
    subset = "all" if num >= total else {"num": num, "seed": seed}  # all images: the seed does not matter
    return json.dumps({"data": cache_key(dataset_cfg)["dataset"], "images": data_digest(real), "space": space.tag,
                       "net": space.fingerprint(), "subset": subset, "total": total, "version": STATS_VERSION},
                      sort_keys=True, default=str)


def stats_path(stats_dir: Path, dataset_cfg: Mapping[str, Any], key: str) -> Path:
    """NAME_DIGEST.npz for a key."""
    return Path(stats_dir) / f"{dataset_cfg.get('name', 'dataset')}_{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def read_stats(path: Path, key: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(mu, sigma) of a valid entry with this key, else None (absent, unreadable, another key, bad shapes, NaN)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["key"]) != key:
                return None
            mu, sigma = np.asarray(f["mu"], dtype=np.float64), np.asarray(f["sigma"], dtype=np.float64)
    except Exception:  # noqa: BLE001 - any unreadable entry just means: compute it again
        return None
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)) or not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        return None
    return torch.from_numpy(mu), torch.from_numpy(sigma)


def write_stats(path: Path, key: str, mu: torch.Tensor, sigma: torch.Tensor, n: int) -> None:
    """Write an entry atomically (a reader sees the old entry or the new one, never half of one)."""
    write_npz(path, {"mu": mu.double().numpy(), "sigma": sigma.double().numpy(), "n": np.asarray(n),
                     "key": np.asarray(key)})
