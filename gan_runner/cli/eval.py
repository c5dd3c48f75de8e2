"""`gan-eval`: sample a trained generator and measure it; prints a table and writes RUN_DIR/eval.json.

    gan-eval RUN_DIR [--metrics fid,kid,is,pr,dc,parzen,modes] [--num 10000]

Without --metrics every metric that fits the run is computed (images: fid, kid, is, pr, dc, parzen,
plus class_acc for CGAN/ACGAN and purity for InfoGAN; ring8/grid25: modes, fid, kid, pr, dc on
the 2D coordinates; stacked_mnist: stacked_modes, fid, kid, is, pr, dc, where the PacGAN protocol
counts modes on --num 26000). Features (--features): by default a classifier trained on the run's
labeled dataset, or a label-free rotation net on unlabeled images, both cached (--cache-dir,
$GAN_RUNNER_CACHE); `inception` is the literature's FID Inception (torch-fidelity; --inception-weights
offline); `inception-torchvision` is torchvision's ImageNet model from --inception WEIGHTS. docs/EVALUATION.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from gan_runner.atomic import json_safe, write_json
from gan_runner.cli.boundary import OneLineParser
from gan_runner.cli.common import add_common_args, guarded, load_for_cli, resolve_device
from gan_runner.cli.output_paths import writable_path
from gan_runner.errors import UserError
from gan_runner.metrics.evaluate import check_metrics, default_metrics, evaluate_run, model_needs, parse_metric_list
from gan_runner.metrics.fid_inception import WEIGHTS_FILE
from gan_runner.metrics.ref_stats import load_ref_stats, write_ref_stats
from gan_runner.metrics.registry import plus_minus
from gan_runner.progress import format_value


def parse_num_real(text: str) -> int | str:
    """--num-real: a count >= 2, or 'all' (every image of the training set)."""
    if text.strip().lower() == "all":
        return "all"
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or 'all', got {text!r}") from None
    if n < 2:
        raise argparse.ArgumentTypeError(f"must be >= 2 (or 'all'), got {n}")
    return n


def eval_json_path(target: str | Path) -> Path:
    """RUN_DIR/eval.json for a run dir, or for a checkpoint file in RUN_DIR/checkpoints; else beside the file."""
    p = Path(target).expanduser()
    if p.is_dir():
        return p / "eval.json"
    return (p.parent.parent if p.parent.name == "checkpoints" else p.parent) / "eval.json"


def format_table(results: dict[str, float]) -> str:
    """Metric table: one row per value, with its spread where the metric reports one."""
    spread = plus_minus()  # from the metrics' records: kid -> kid_std, ...
    hidden = set(spread.values())
    rows = [(k, format_value(v) + (f" ± {format_value(results[spread[k]])}" if spread.get(k) in results else ""))
            for k, v in results.items() if k not in hidden]
    width = max([len(k) for k, _ in rows] + [6])
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  {'-' * 20}"]
    lines += [f"{k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)


def _evaluate(args: argparse.Namespace) -> None:
    from gan_runner.data import build_dataset
    from gan_runner.generation.loading import offline
    from gan_runner.metrics.features import check_features
    from gan_runner.plugins import activate
    from gan_runner.progress import StderrProgress, no_progress

    if args.num < 2 or args.batch_size < 1:
        raise UserError("--num must be >= 2 and --batch-size >= 1")
    for flag, value in (("--json", args.json), ("--save-ref-stats", args.save_ref_stats)):
        if value is not None:
            writable_path(value, flag)
    t_start = time.perf_counter()
    device = resolve_device(args.device)
    activate(args.plugin)  # plugin metrics, feature nets and models are known before the lists are checked
    names = parse_metric_list(args.metrics) if args.metrics else None  # a typo fails before any work
    check_features(args.features, inception=args.inception, inception_weights=args.inception_weights)
    if args.ref_stats is not None:
        load_ref_stats(args.ref_stats)  # readable and well-shaped; its dimension is checked against the features
    run = load_for_cli(args.run, device, args.plugin)
    data = build_dataset(offline(run.config["dataset"]))  # evaluating a run never downloads
    kinds = model_needs(run.model, inception=args.inception is not None or args.features == "inception")
    if names is None:
        names = default_metrics(data.spec, **kinds)
    check_metrics(names, data.spec, **kinds)
    progress = no_progress if args.quiet else StderrProgress()
    cache_dir = Path(args.cache_dir).expanduser() if args.cache_dir else None
    num_real = len(data) if args.num_real == "all" else args.num_real
    out = writable_path(args.json, "--json") if args.json else writable_path(eval_json_path(args.run), "eval.json")
    # Feature files (memmaps, unlinked at once) go beside eval.json: the run's disk, not a RAM-backed /tmp.
    ev = evaluate_run(run, data, names, num=args.num, seed=args.seed, ema=args.ema, batch_size=args.batch_size,
                      device=device, cache_dir=cache_dir, inception=args.inception, num_real=num_real,
                      data_root=args.data_root, progress=progress, features=args.features,
                      inception_weights=args.inception_weights, ref_stats=args.ref_stats,
                      work_dir=out.parent, stats_dir=None if not args.no_stats_cache else False)
    ctx, results, seconds = ev.ctx, ev.results, ev.seconds
    dataset_cfg = dict(run.config["dataset"])
    seconds["total"] = round(time.perf_counter() - t_start, 3)

    space = ctx.space_if_built()
    if args.save_ref_stats:
        if space is None:
            raise UserError("--save-ref-stats needs a feature metric (fid, kid, pr, dc) to compute the real features")
        saved = write_ref_stats(args.save_ref_stats, *ctx.real_moments())
        ctx.notes["ref_stats"] = f"wrote mu/sigma of {ctx.num_real_used()} real images ({space.tag}) to {saved}"
    record = {
        "target": str(args.run), "step": run.step, "ema": bool(args.ema and run.ema_G is not None),
        "num": ev.num, "num_real": ctx.num_real_used(),
        "seed": args.seed, "device": str(device), "model": run.config.get("model", {}).get("name"),
        "dataset": dataset_cfg, "metrics_requested": names, "metrics": results,
        "feature_space": None if space is None else {"name": space.name, **space.info, "tag": space.tag},
        "notes": ctx.notes, "seconds": seconds,
    }
    write_json(out, json_safe(record))
    print(format_table(results))
    if space is not None and "heldout_accuracy" in space.info:
        task = space.info.get("heldout_task", "classification")
        print(f"features: {space.name} [{space.tag}], held-out accuracy {100 * space.info['heldout_accuracy']:.1f}% "
              f"({task}, {space.info['heldout_size']} images); cache {space.info['cache']}")
    elif space is not None:
        print(f"features: {space.name} [{space.tag}]")
    for name, note in ctx.notes.items():
        print(f"{name}: {note}")
    print(f"{ev.num} samples, step {run.step}, {'EMA' if record['ema'] else 'raw'} generator, "
          f"{seconds['total']:.1f}s; wrote {out}")


def build_parser() -> argparse.ArgumentParser:
    """gan-eval's arguments."""
    p = OneLineParser(prog="gan-eval", description=__doc__.split("\n\n")[0])
    add_common_args(p)
    p.add_argument("--metrics", help="comma-separated: fid,kid,is,pr,dc,parzen,modes,stacked_modes,class_acc,purity (default: all that fit)")
    p.add_argument("--num", type=int, default=10_000, help="generated samples (default 10000)")
    p.add_argument("--num-real", type=parse_num_real, metavar="N|all",
                   help="real samples for fid/kid/is/pr/dc (default: --num, at most the dataset); all: the whole training set")
    p.add_argument("--no-stats-cache", action="store_true",
                   help="recompute the real side's statistics instead of reading $GAN_RUNNER_CACHE/stats")
    p.add_argument("--cache-dir", help="feature-net cache (default $GAN_RUNNER_CACHE/features or ~/.cache/gan_runner/features)")
    p.add_argument("--features", default="auto",  # checked once plugins are loaded: theirs may add feature nets
                   help="feature space: auto (the dataset's classifier if labeled, else the label-free net; points for "
                        "2D data), inception (the literature's FID Inception, torch-fidelity), label-free, classifier, "
                        "inception-torchvision (torchvision's ImageNet model, with --inception), or a plugin's feature net")
    p.add_argument("--inception-weights", metavar="PATH",
                   help=f"local {WEIGHTS_FILE} for --features inception (default: the torch hub cache, downloaded once)")
    p.add_argument("--inception", metavar="PATH",
                   help="local torchvision inception_v3 state_dict: torchvision's ImageNet features (not the FID network)")
    p.add_argument("--ref-stats", metavar="NPZ", help="FID against these mu/sigma (pytorch-fid npz) instead of the run's data")
    p.add_argument("--save-ref-stats", metavar="NPZ", help="write the real side's mu/sigma (pytorch-fid npz format) here")
    p.add_argument("--data-root", default=os.environ.get("GAN_RUNNER_DATA"),
                   help="where MNIST/raw/t10k-* live for Parzen (default $GAN_RUNNER_DATA, the run's dataset.root, ./data)")
    p.add_argument("--json", help="write the results here instead of RUN_DIR/eval.json")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of gan-eval."""
    args = build_parser().parse_args(argv)
    sys.exit(guarded(lambda: _evaluate(args), args.verbose))


if __name__ == "__main__":
    main()
