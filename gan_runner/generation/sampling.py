"""Draw from a trained generator: N samples in batches, and pictures (grids, interpolations, per-class rows, traversals).

Latents are drawn on the CPU from a seeded generator and then moved to the device, so a seed gives
the same samples on CPU and GPU (as the trainer's fixed grids do). Generation runs under
`sampling_mode`: batch statistics, as during training, without touching BN running estimates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from PIL import Image

from gan_runner.data.base import to_uint8_images
from gan_runner.errors import UserError
from gan_runner.generation.grids import labelled_grid, sampling_mode, scatter_image, tile
from gan_runner.generation.loading import LoadedRun
from gan_runner.models.base import Latent
from gan_runner.progress import ProgressFn, no_progress

DEFAULT_BATCH = 500  # large batches: BN generators sample with batch statistics, small batches skew them


@dataclass
class Samples:
    """Generated data on the CPU, with the latent conditioning that produced it."""

    x: torch.Tensor  # uint8 (N, C, H, W) images, or float32 (N, D) points
    y: torch.Tensor | None  # (N,) class labels (conditional models)
    c_cat: torch.Tensor | None  # (N, n_cat) categorical codes (InfoGAN)
    c_cont: torch.Tensor | None  # (N, n_cont) continuous codes (InfoGAN)
    is_image: bool

    def __len__(self) -> int:
        return int(self.x.shape[0])


def device_of(G: torch.nn.Module) -> torch.device:
    """The device a module's weights live on."""
    return next(G.parameters()).device


def latent_to(latent: Latent, device: torch.device) -> Latent:
    """The same latent with every tensor on `device`."""
    return latent.to(device)


def _cat(parts: list[torch.Tensor | None]) -> torch.Tensor | None:
    return None if parts[0] is None else torch.cat(parts)  # type: ignore[arg-type]


def equal_batch(n: int, batch_size: int) -> int:
    """The batch size that splits n into equal batches of at most about `batch_size`."""
    # Equal batches (the last one is not a runt of size 1: BN in batch-stat mode cannot normalize one sample).
    k = math.ceil(n / batch_size)
    return max(2, math.ceil(n / k))


def to_host(run: LoadedRun, x: torch.Tensor) -> torch.Tensor:
    """G's output as stored samples on the CPU: uint8 images, or float32 points."""
    return to_uint8_images(x).cpu() if run.model.spec.is_image else x.float().cpu()


def collect(run: LoadedRun, parts: list[tuple[torch.Tensor, Latent]], n: int) -> Samples:
    """The first `n` of (host samples, CPU latent) batches as one Samples."""
    cut = slice(0, n)
    y, c_cat, c_cont = (_cat([latent[i] for _, latent in parts]) for i in (1, 2, 3))
    return Samples(torch.cat([x for x, _ in parts])[cut], None if y is None else y[cut],
                   None if c_cat is None else c_cat[cut], None if c_cont is None else c_cont[cut],
                   run.model.spec.is_image)


#: (G, latent on G's device, the seeded generator) -> (G's output, the latent that made it)
Decode = Callable[[torch.nn.Module, Latent, torch.Generator], tuple[torch.Tensor, Latent]]


def generate_batches(run: LoadedRun, n: int, *, ema: bool = True, seed: int = 0, batch_size: int = DEFAULT_BATCH,
                     progress: ProgressFn = no_progress, decode: Decode | None = None,
                     label: str = "sampling") -> Iterator[tuple[torch.Tensor, Latent]]:
    """`n` samples from the run's generator, one batch at a time: (host samples, CPU latent) per batch.

    The batches together are exactly what `generate` returns (the last one cut to make `n`), so a caller can
    measure 50,000 samples without ever holding more than one batch of them.
    """
    if n < 1:
        raise UserError(f"the number of samples must be >= 1, got {n}")
    G = run.generator(ema)
    device = device_of(G)
    gen = torch.Generator().manual_seed(seed)
    b = equal_batch(n, batch_size)
    done = 0
    while done < n:
        latent = latent_to(run.model.sample_latent(b, "cpu", gen), device)
        if decode is None:
            with sampling_mode(G):
                x = G(latent)
        else:
            x, latent = decode(G, latent, gen)
        keep = min(b, n - done)
        host, cpu_latent = to_host(run, x), latent_to(latent, torch.device("cpu"))
        done += b
        progress(label, min(done, n), n)
        yield host[:keep], cpu_latent.map(lambda t, keep=keep: t[:keep])  # bound now: the generator resumes later


def generate(run: LoadedRun, n: int, *, ema: bool = True, seed: int = 0, batch_size: int = DEFAULT_BATCH,
             progress: ProgressFn = no_progress, decode: Decode | None = None, label: str = "sampling") -> Samples:
    """`n` samples from the run's generator (EMA weights when `ema` and kept), in batches, on the run's device.

    `decode` replaces plain G(latent) for each batch, e.g. to refine the latents first.
    """
    parts = list(generate_batches(run, n, ema=ema, seed=seed, batch_size=batch_size, progress=progress,
                                  decode=decode, label=label))
    return collect(run, parts, n)


def _render(run: LoadedRun, latent: Latent, nrow: int, ema: bool, real: torch.Tensor | None = None) -> torch.Tensor:
    """G(latent) as one uint8 (3, H, W) picture: an image grid, or a scatter plot for 2D data."""
    G = run.generator(ema)
    with sampling_mode(G):
        x = G(latent_to(latent, device_of(G)))
    if run.model.spec.is_image:
        return labelled_grid(x, nrow, latent)  # rows of one class or code say which
    return scatter_image(x, real)


def _need_images(run: LoadedRun, what: str) -> None:
    if not run.model.spec.is_image:
        raise UserError(f"{what} needs an image model; dataset '{run.model.spec.name}' is 2D points (use --grid alone)")


def sample_grid(run: LoadedRun, n: int = 64, *, ema: bool = True, seed: int = 0,
                real: torch.Tensor | None = None) -> torch.Tensor:
    """A square grid of about `n` samples, or for 2D data a scatter plot of 2,000 (over `real` in gray)."""
    gen = torch.Generator().manual_seed(seed)
    count, side = grid_count(run, n)
    return _render(run, run.model.sample_latent(count, "cpu", gen), side, ema, real)


def grid_count(run: LoadedRun, n: int) -> tuple[int, int]:
    """(samples, images per row) of `sample_grid`'s picture for about `n` images."""
    side = max(1, int(math.isqrt(n)))
    return (side * side if run.model.spec.is_image else 2000), side


def render_samples(s: Samples, nrow: int, real: torch.Tensor | None = None) -> torch.Tensor:
    """Stored samples as `sample_grid` draws them: an image grid, or a scatter plot over `real`."""
    if s.is_image:
        return tile(s.x, nrow)  # image_grid's layout; x is uint8 already
    return scatter_image(s.x, real)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of a and b (B, D) at fractions t (T,) -> (B, T, D).

    Gaussian latents concentrate near a sphere; a straight line between two of them passes through
    the low-norm interior that G never saw in training, slerp stays on the shell (White 2016).
    """
    an, bn = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    omega = torch.acos((an * bn).sum(1).clamp(-1 + 1e-7, 1 - 1e-7))[:, None, None]  # (B, 1, 1)
    t = t[None, :, None]
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a[:, None] + (torch.sin(t * omega) / so) * b[:, None]


def interpolation_grid(run: LoadedRun, rows: int = 8, steps: int = 10, *, ema: bool = True, seed: int = 0) -> torch.Tensor:
    """Each row walks z from one sample to another (slerp); labels and codes stay those of the row's start."""
    _need_images(run, "--interpolate")
    gen = torch.Generator().manual_seed(seed)
    start = run.model.sample_latent(rows, "cpu", gen)
    end = run.model.sample_latent(rows, "cpu", gen)
    z = slerp(start.z, end.z, torch.linspace(0, 1, steps)).reshape(rows * steps, -1)  # (rows * steps, z_dim)
    rest = [None if t is None else t.repeat_interleave(steps, dim=0) for t in start[1:]]
    return _render(run, Latent(z, *rest), steps, ema)


def per_class_grid(run: LoadedRun, n: int = 100, *, ema: bool = True, seed: int = 0) -> torch.Tensor:
    """One row per class (CGAN, ACGAN) or per value of InfoGAN's first categorical code; columns share z."""
    _need_images(run, "--per-class")
    grids = run.model.grid_latents(n, "cpu", torch.Generator().manual_seed(seed))
    for key in ("per_class", "categorical"):
        if key in grids:
            latent, nrow = grids[key]
            return _render(run, latent, nrow, ema)
    name = run.config.get("model", {}).get("name", "this model")
    raise UserError(f"--per-class needs a class-conditional model (cgan, acgan) or infogan; the run's model is '{name}'")


def traversal_grids(run: LoadedRun, n: int = 100, *, ema: bool = True, seed: int = 0,
                    dims: int = 10, steps: int = 10, span: float = 2.5) -> dict[str, torch.Tensor]:
    """Latent traversals: InfoGAN's continuous codes (its paper's figure), else z dims swept over [-span, span].

    For a plain generator row j varies z_j alone from one fixed z: a coarse picture of what single
    latent directions do (GAN z dims are rarely disentangled; InfoGAN's codes are meant to be).
    """
    _need_images(run, "--traverse")
    gen = torch.Generator().manual_seed(seed)
    grids = run.model.grid_latents(n, "cpu", gen)
    cont = {k: v for k, v in grids.items() if k.startswith("continuous_")}
    if cont:
        return {k: _render(run, lat, nrow, ema) for k, (lat, nrow) in cont.items()}
    base = run.model.sample_latent(1, "cpu", gen)
    rows = min(dims, run.model.z_dim)
    z = base.z.repeat(rows * steps, 1)  # (rows * steps, z_dim)
    sweep = torch.linspace(-span, span, steps)
    for j in range(rows):
        z[j * steps : (j + 1) * steps, j] = sweep
    rest = [None if t is None else t.repeat(rows * steps, *([1] * (t.dim() - 1))) for t in base[1:]]
    return {"z": _render(run, Latent(z, *rest), steps, ema)}


def save_png(img: torch.Tensor, path: str | Path) -> Path:
    """Write a uint8 (C, H, W) picture as PNG (creating the folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = img.permute(1, 2, 0).cpu().numpy()
    Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr).save(path)
    return path
