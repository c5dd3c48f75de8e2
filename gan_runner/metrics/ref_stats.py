"""Reference statistics: FID's real side as (mu, sigma) in pytorch-fid's npz format (as TTUR and pytorch-fid write them).

`--save-ref-stats FILE` writes the run dataset's statistics; `--ref-stats FILE` compares the generated
samples with published ones (e.g. fid_stats_cifar10_train.npz) instead of the run's data. A file is
plain arrays `mu` (D,) and `sigma` (D, D), read with allow_pickle=False so it can carry no code.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from gan_runner.errors import UserError
from gan_runner.metrics.frechet import mean_cov


def save_ref_stats(path: str | Path, features: torch.Tensor) -> Path:
    """Write mu/sigma of features (N, D) to an npz file (pytorch-fid's keys and float64)."""
    return write_ref_stats(path, *mean_cov(features))


def write_ref_stats(path: str | Path, mu: torch.Tensor, sigma: torch.Tensor) -> Path:
    """Write mu (D,) and sigma (D, D) to an npz file in pytorch-fid's format (keys mu, sigma; float64)."""
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp.npz")
    np.savez(tmp, mu=mu.double().numpy(), sigma=sigma.double().numpy())
    tmp.replace(p)  # atomic: a reader never sees half a file
    return p


def load_ref_stats(path: str | Path, dim: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu (D,), sigma (D, D)) from an npz file; a missing, unreadable or wrong-sized file is one line."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"--ref-stats {p}: no such file")
    try:
        with np.load(p, allow_pickle=False) as f:
            mu, sigma = np.asarray(f["mu"], dtype=np.float64), np.asarray(f["sigma"], dtype=np.float64)
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise UserError(f"--ref-stats {p} is not an npz with arrays 'mu' and 'sigma' "
                        f"({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})") from None
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise UserError(f"--ref-stats {p}: mu {mu.shape} and sigma {sigma.shape} are not (D,) and (D, D)")
    if dim is not None and len(mu) != dim:
        raise UserError(f"--ref-stats {p} has {len(mu)}-d statistics but the feature space gives {dim}-d features "
                        "(statistics of another network?); pick the matching --features")
    return torch.from_numpy(mu), torch.from_numpy(sigma)
