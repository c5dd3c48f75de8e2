"""`gan-sample`: samples (.npz) and pictures (.png) from a trained run dir or checkpoint.

    gan-sample RUN_DIR --num 5000 --out samples.npz      # uint8 'images' (N, C, H, W) [+ 'labels', InfoGAN codes]
    gan-sample RUN_DIR --grid grid.png [--interpolate] [--per-class] [--traverse]
    gan-sample RUN_DIR --num 5000 --out drs.npz --drs       # discriminator-driven: --drs, or --refine-steps N [--langevin]

Each picture flag writes one more PNG beside --grid (grid_interpolate.png, ...). A wrong path or
an unreadable checkpoint prints one line and exits with code 2 (--verbose shows the traceback).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from gan_runner.errors import UserError

if TYPE_CHECKING:
    from gan_runner.loading import LoadedRun
    from gan_runner.progress import ProgressFn
    from gan_runner.sampling import Samples

EXIT_USER_ERROR = 2


def add_common_args(p: argparse.ArgumentParser) -> None:
    """Arguments both CLIs share: the run, weights, device, seed, verbosity."""
    p.add_argument("run", metavar="RUN_DIR", help="a gan-run run dir (uses checkpoints/last.pt) or a checkpoint file")
    p.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True,
                   help="sample with the EMA generator where the run kept one (default) or the raw one")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--seed", type=int, default=0, help="latent seed; same samples on CPU and GPU (default 0)")
    p.add_argument("--batch-size", type=int, default=500, help="generator batch size (default 500)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--verbose", action="store_true", help="full tracebacks for errors")


def resolve_device(name: str) -> torch.device:
    """The --device choice ('auto' picks CUDA when present), with the trainer's checks."""
    from gan_runner.run import resolve_device as resolve

    return resolve(name, "--device")


def load_for_cli(target: str, device: torch.device) -> "LoadedRun":
    """load_run, with a checkpoint that no longer fits the model code reported as one line."""
    from gan_runner.loading import load_run

    try:
        return load_run(target, device)
    except (RuntimeError, KeyError, TypeError) as e:  # state_dict keys/shapes or config entries that do not fit
        first = (str(e).strip().splitlines() or [type(e).__name__])[-1].strip()[:200]
        raise UserError(f"cannot rebuild the model from {target} ({first}); "
                        "was it written by another gan-runner version?") from e


def guarded(body: Callable[[], None], verbose: bool) -> int:
    """Run body; a UserError becomes one 'error: ...' line on stderr and exit code 2."""
    try:
        body()
    except UserError as e:
        if verbose:
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def sibling(path: Path, suffix: str) -> Path:
    """grid.png + 'interpolate' -> grid_interpolate.png."""
    return path.with_name(f"{path.stem}_{suffix}{path.suffix or '.png'}")


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays to exactly `path` (np.savez would append .npz), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_dd_args(args: argparse.Namespace) -> None:
    """Reject discriminator-driven option combinations that cannot work (before loading the run); fill defaults."""
    from gan_runner.dd_sampling import check_drs, check_refine

    if args.drs and args.refine_steps:
        raise UserError("--drs and --refine-steps are two methods; use one of them")
    if not args.refine_steps and (args.refine_lr is not None or args.langevin):
        raise UserError("--refine-lr and --langevin tune --refine-steps N; give N >= 1")
    if not args.drs and (args.drs_percentile is not None or args.drs_burn_in is not None):
        raise UserError("--drs-percentile and --drs-burn-in tune --drs; add --drs")
    args.refine_lr = 0.01 if args.refine_lr is None else args.refine_lr
    args.drs_percentile = 95.0 if args.drs_percentile is None else args.drs_percentile
    args.drs_burn_in = 10_000 if args.drs_burn_in is None else args.drs_burn_in
    check_refine(args.refine_steps, args.refine_lr)
    check_drs(args.drs_percentile, args.drs_burn_in)


def dd_sampler(args: argparse.Namespace, run: "LoadedRun", progress: "ProgressFn") -> "Callable[[int], Samples] | None":
    """n -> samples by the requested discriminator-driven method (printing DRS's acceptance), or None."""
    from gan_runner.dd_sampling import logit_caveat, refine_sample, rejection_sample

    if not (args.drs or args.refine_steps):
        return None
    caveat = logit_caveat(run)
    if caveat:
        print(f"warning: {caveat}", file=sys.stderr)
    kw = {"ema": args.ema, "seed": args.seed, "batch_size": args.batch_size, "progress": progress}

    def draw(n: int) -> "Samples":
        if args.drs:
            samples, report = rejection_sample(run, n, percentile=args.drs_percentile, burn_in=args.drs_burn_in, **kw)
            print(report.summary())
            return samples
        return refine_sample(run, n, steps=args.refine_steps, lr=args.refine_lr, langevin=args.langevin, **kw)

    return draw


def _sample(args: argparse.Namespace) -> None:
    from gan_runner.progress import StderrProgress, no_progress
    from gan_runner.sampling import generate, grid_count, interpolation_grid, per_class_grid, render_samples, sample_grid, save_png, traversal_grids

    if args.out is None and args.grid is None:
        raise UserError("nothing to do: give --out FILE.npz (samples) and/or --grid FILE.png (pictures)")
    if args.grid is None and (args.interpolate or args.per_class or args.traverse):
        raise UserError("--interpolate, --per-class and --traverse write PNGs beside --grid; give --grid FILE.png")
    if args.num < 1 or args.batch_size < 1:
        raise UserError("--num and --batch-size must be >= 1")
    check_dd_args(args)
    device = resolve_device(args.device)
    run = load_for_cli(args.run, device)
    progress = no_progress if args.quiet else StderrProgress()
    draw = dd_sampler(args, run, progress)
    kw = {"ema": args.ema, "seed": args.seed}
    if args.out is not None:
        if draw is None:
            s = generate(run, args.num, batch_size=args.batch_size, progress=progress, **kw)
        else:
            s = draw(args.num)
        key = "images" if s.is_image else "points"
        arrays = {key: s.x.numpy()}
        for name, t in (("labels", s.y), ("codes_cat", s.c_cat), ("codes_cont", s.c_cont)):
            if t is not None:
                arrays[name] = t.numpy()
        write_npz(Path(args.out), arrays)
        shapes = ", ".join(f"{k} {v.dtype} {tuple(v.shape)}" for k, v in arrays.items())
        print(f"wrote {args.out}: {shapes}")
    if args.grid is not None:
        grid = Path(args.grid)
        real = None
        if not run.model.spec.is_image:  # 2D scatter plots show the data in gray underneath
            from gan_runner.data import build_dataset

            real = build_dataset(run.config["dataset"]).x[:2000]
        if draw is None:
            pictures = {grid: sample_grid(run, args.grid_size, real=real, **kw)}
        else:  # the same picture, drawn from discriminator-driven samples
            count, side = grid_count(run, args.grid_size)
            pictures = {grid: render_samples(draw(count), side, real)}
        if args.interpolate:
            pictures[sibling(grid, "interpolate")] = interpolation_grid(run, **kw)
        if args.per_class:
            pictures[sibling(grid, "per_class")] = per_class_grid(run, args.grid_size, **kw)
        if args.traverse:
            for name, img in traversal_grids(run, args.grid_size, **kw).items():
                pictures[sibling(grid, f"traverse_{name}")] = img
        for path, img in pictures.items():
            save_png(img, path)
            print(f"wrote {path}")


def build_parser() -> argparse.ArgumentParser:
    """gan-sample's arguments."""
    p = argparse.ArgumentParser(prog="gan-sample", description=__doc__.split("\n\n")[0])
    add_common_args(p)
    p.add_argument("--num", type=int, default=10_000, help="samples to write with --out (default 10000)")
    p.add_argument("--out", help="write samples to this .npz: uint8 'images' (N, C, H, W), 'labels' where conditional")
    p.add_argument("--grid", help="write a sample grid PNG here (a scatter plot for 2D data)")
    p.add_argument("--grid-size", type=int, default=64, help="images per grid (default 64)")
    p.add_argument("--interpolate", action="store_true", help="also GRID_interpolate.png: slerp between latents, one pair per row")
    p.add_argument("--per-class", action="store_true", help="also GRID_per_class.png: one row per class (cgan, acgan) or code value (infogan)")
    p.add_argument("--traverse", action="store_true", help="also GRID_traverse_*.png: InfoGAN continuous codes, else single z dims")
    dd = p.add_argument_group("discriminator-driven sampling (applies to --out and the --grid picture; "
                              "--interpolate/--per-class/--traverse stay plain)")
    dd.add_argument("--drs", action="store_true",
                    help="Discriminator Rejection Sampling (Azadi et al. 2019): keep samples D scores as real")
    dd.add_argument("--drs-percentile", type=float, metavar="Q",
                    help="gamma = this percentile of DRS's F over the burn-in; higher keeps fewer (default 95)")
    dd.add_argument("--drs-burn-in", type=int, metavar="N", help="candidates that set D's max logit and gamma first (default 10000)")
    dd.add_argument("--refine-steps", type=int, default=0, metavar="N",
                    help="N gradient steps on z of E(z) = |z|^2/2 - D(G(z)) before decoding (DDLS/DOT; default 0 = off)")
    dd.add_argument("--refine-lr", type=float, metavar="LR", help="step size of --refine-steps (default 0.01)")
    dd.add_argument("--langevin", action="store_true",
                    help="add N(0, 2 lr) noise each step: Langevin sampling of p(z) ~ N(z; 0, I) exp(D(G(z))) (DDLS)")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of gan-sample."""
    args = build_parser().parse_args(argv)
    sys.exit(guarded(lambda: _sample(args), args.verbose))


if __name__ == "__main__":
    main()
