"""`gan-sample`: samples (.npz) and pictures (.png) from a trained run dir or checkpoint.

    gan-sample RUN_DIR --num 5000 --out samples.npz      # uint8 'images' (N, C, H, W) [+ 'labels', InfoGAN codes]
    gan-sample RUN_DIR --grid grid.png [--interpolate] [--per-class] [--traverse]
    gan-sample RUN_DIR --num 5000 --out drs.npz --drs       # discriminator-driven: --drs, or --refine-steps N [--langevin]

Each picture flag writes one more PNG beside --grid (grid_interpolate.png, ...). A wrong path or
an unreadable checkpoint prints one line and exits with code 2 (--verbose shows the traceback).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from gan_runner.atomic import write_npz
from gan_runner.cli.boundary import OneLineParser
from gan_runner.cli.common import EXIT_USER_ERROR, add_common_args, guarded, load_for_cli, resolve_device  # noqa: F401
from gan_runner.cli.output_paths import check_room, naming, writable_path
from gan_runner.errors import UserError

if TYPE_CHECKING:
    from gan_runner.generation.loading import LoadedRun
    from gan_runner.generation.sampling import Samples
    from gan_runner.progress import ProgressFn

MAX_GRID = 10_000  # pictures per grid: a 100x100 sheet; beyond that no one looks


def sibling(path: Path, suffix: str) -> Path:
    """grid.png + 'interpolate' -> grid_interpolate.png."""
    return path.with_name(f"{path.stem}_{suffix}{path.suffix or '.png'}")


def check_dd_args(args: argparse.Namespace) -> None:
    """Reject discriminator-driven option combinations that cannot work (before loading the run); fill defaults."""
    from gan_runner.generation.dd_sampling import check_drs, check_refine

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
    from gan_runner.generation.dd_sampling import logit_caveat, refine_sample, rejection_sample

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
    import torch

    from gan_runner.generation.sampling import (
        generate,
        grid_count,
        interpolation_grid,
        per_class_grid,
        render_samples,
        sample_grid,
        save_png,
        traversal_grids,
    )
    from gan_runner.memory_budget import check_fits
    from gan_runner.progress import StderrProgress, no_progress

    if args.out is None and args.grid is None:
        raise UserError("nothing to do: give --out FILE.npz (samples) and/or --grid FILE.png (pictures)")
    if args.grid is None and (args.interpolate or args.per_class or args.traverse):
        raise UserError("--interpolate, --per-class and --traverse write PNGs beside --grid; give --grid FILE.png")
    if args.num < 1 or args.batch_size < 1:
        raise UserError("--num and --batch-size must be >= 1")
    if not 1 <= args.grid_size <= MAX_GRID:
        raise UserError(f"--grid-size must be between 1 and {MAX_GRID}, got {args.grid_size}")
    out = writable_path(args.out, "--out") if args.out is not None else None
    grid_path = writable_path(args.grid, "--grid") if args.grid is not None else None
    check_dd_args(args)
    device = resolve_device(args.device)
    run = load_for_cli(args.run, device, args.plugin)
    if out is not None:  # uint8 samples are held in memory, then written: both must have room (as gan-eval checks)
        need = args.num * math.prod(run.model.spec.shape) * (1 if run.model.spec.is_image else 4)
        check_fits(need, torch.device("cpu"), f"--num {args.num} samples", "lower --num")
        check_room(out, need, "--out", "lower --num or write elsewhere")
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
        write_npz(out, arrays)
        shapes = ", ".join(f"{k} {v.dtype} {tuple(v.shape)}" for k, v in arrays.items())
        print(f"wrote {args.out}: {shapes}")
    if args.grid is not None:
        grid = grid_path
        real = None
        if not run.model.spec.is_image:  # 2D scatter plots show the data in gray underneath
            from gan_runner.data import build_dataset
            from gan_runner.generation.loading import offline

            real = build_dataset(offline(run.config["dataset"])).x[:2000]
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
            with naming(path):
                save_png(img, writable_path(path, "--grid"))
            print(f"wrote {path}")


def build_parser() -> argparse.ArgumentParser:
    """gan-sample's arguments."""
    p = OneLineParser(prog="gan-sample", description=__doc__.split("\n\n")[0])
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
