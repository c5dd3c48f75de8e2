"""Time to quality: FID against training time for gan-run runs and the plain PyTorch DCGAN loop.

    python bench/plain_quality.py --seconds 240 --every 30 --out /tmp/plain_q
    gan-run trainer.eval_every=500 'eval.periodic=[fid]' eval.periodic_num=5000 hydra.run.dir=/tmp/default_q
    python bench/quality_curve.py --ours /tmp/default_q --plain /tmp/plain_q --plot docs/images/time_to_quality.png

gan-run's curve is its periodic evaluation (metrics.json `periodic_eval.history`: FID and training seconds,
evaluation time left out). The plain loop's checkpoints (named tSECONDSs_stepN.pt by plain_quality.py) are
scored here with the same metric, the same number of samples and the same seed.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

Point = tuple[float, int, float]  # (training seconds, step, FID)


def ours_curve(run_dir: Path) -> list[Point]:
    """A gan-run run's periodic FID history."""
    history = json.loads((run_dir / "metrics.json").read_text())["periodic_eval"]["history"]
    return [(float(h["time_s"]), int(h["step"]), float(h["fid"])) for h in history if "fid" in h]


def plain_curve(out_dir: Path, num: int, seed: int) -> list[Point]:
    """FID of each checkpoint plain_quality.py saved (EMA is off there: the raw generator)."""
    from gan_runner.data import build_dataset
    from gan_runner.generation.loading import load_run
    from gan_runner.metrics.evaluate import evaluate_run

    points: list[Point] = []
    reuse: dict[str, Any] = {}  # one dataset and seed: the real features are computed once
    data = None
    for ckpt in sorted((out_dir / "checkpoints").glob("t*s_step*.pt")):
        m = re.fullmatch(r"t(\d+)s_step(\d+)\.pt", ckpt.name)
        if m is None:
            continue
        run = load_run(ckpt)
        data = data or build_dataset(run.config["dataset"])
        fid = evaluate_run(run, data, ["fid"], num=num, seed=seed, reuse=reuse).results["fid"]
        points.append((float(m.group(1)), int(m.group(2)), float(fid)))
        print(f"plain {ckpt.name}: FID {points[-1][2]:.1f}", flush=True)
    return points


def plot(curves: dict[str, list[Point]], path: Path) -> None:
    """FID (log scale) against training seconds, one line per curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, pts in curves.items():
        ax.plot([p[0] for p in pts], [p[2] for p in pts], marker="o", label=label)
    ax.axvline(180, color="gray", linestyle=":", linewidth=1)
    ax.set_xlabel("training time (s), 2-core CPU")
    ax.set_ylabel("FID, offline MNIST classifier (lower is better)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ours", type=Path, nargs="*", default=[], help="gan-run run dirs with periodic FID")
    parser.add_argument("--label", nargs="*", default=[], help="a legend label per --ours run")
    parser.add_argument("--plain", type=Path, help="plain_quality.py's --out directory")
    parser.add_argument("--num", type=int, default=5000, help="samples per FID (gan-run's eval.periodic_num)")
    parser.add_argument("--seed", type=int, default=0, help="the evaluation seed (gan-run's `seed`)")
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    curves: dict[str, list[Point]] = {}
    for i, run_dir in enumerate(args.ours):
        curves[args.label[i] if i < len(args.label) else f"gan-run {run_dir.name}"] = ours_curve(run_dir)
    if args.plain:
        curves["plain PyTorch DCGAN loop"] = plain_curve(args.plain, args.num, args.seed)
    for label, pts in curves.items():
        print(f"\n{label}\n| training time | step | FID |\n|---|---|---|")
        for t, step, fid in pts:
            print(f"| {t:.0f} s | {step} | {fid:.1f} |")
    if args.plot:
        plot(curves, args.plot)
        print(f"\nwrote {args.plot}")


if __name__ == "__main__":
    main()
