"""Validate the label-free feature net against the labeled classifier: do their FIDs rank generators alike?

    python bench/eval_label_free.py RUN_DIR [OTHER_RUN_DIR ...] [--num 2000]

RUN_DIR: a gan-run run on mnist_5k with checkpoints along its training (e.g. trainer.max_steps=1000
trainer.ckpt_every=100); OTHER_RUN_DIR: runs of other models (e.g. model=gan). Generators: every checkpoint
of every run (raw and EMA generator), plus deliberately broken ones built from the data (uniform noise, one
repeated digit, collapses to 10 and 100 digits, blurred and noisy real digits); the real-vs-real row compares
two disjoint real sets. Prints a markdown table with both FIDs, and Spearman's rank correlation over all
generators, over the first run's checkpoints alone (quality along one training run, the hard case) and over
the run checkpoints of all runs (real-vs-real excluded from each).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gan_runner.data import build_dataset
from gan_runner.generation.loading import load_run
from gan_runner.generation.sampling import generate
from gan_runner.metrics.classifier import load_or_train
from gan_runner.metrics.fid_kid_is import fid_from_features
from gan_runner.metrics.label_free import label_free_space
from gan_runner.metrics.space import default_cache_dir


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (no ties expected among FIDs)."""
    ra = torch.tensor(a).argsort().argsort().double()
    rb = torch.tensor(b).argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def broken_generators(real: torch.Tensor, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """uint8 image sets (n, C, H, W) of known bad quality, made from the real data."""
    pick = real[torch.randint(len(real), (n,), generator=gen)]
    blur = F.avg_pool2d(pick.float(), 5, 1, 2).round().clamp(0, 255).to(torch.uint8)
    out = {
        "uniform noise": torch.randint(0, 256, pick.shape, generator=gen, dtype=torch.uint8),
        "one digit repeated": real[:1].expand(n, -1, -1, -1).clone(),
        "collapse to 10 digits": real[torch.randint(10, (n,), generator=gen) * 500],
        "collapse to 100 digits": real[torch.randint(100, (n,), generator=gen) * 50],
        "real, blurred 3x3": F.avg_pool2d(pick.float(), 3, 1, 1).round().clamp(0, 255).to(torch.uint8),
        "real, blurred 5x5": blur,
    }
    for std in (20, 50, 100):
        out[f"real + noise (std {std})"] = (pick.float() + std * torch.randn(pick.shape, generator=gen)
                                            ).round().clamp(0, 255).to(torch.uint8)
    return out


def main() -> None:
    """Print the validation table."""
    p = argparse.ArgumentParser()
    p.add_argument("run_dirs", type=Path, nargs="+")
    p.add_argument("--num", type=int, default=2000)
    args = p.parse_args()
    t0 = time.perf_counter()
    cfg = {"name": "mnist_5k", "image_size": 32}
    data = build_dataset(cfg)
    cache = default_cache_dir()
    clf = load_or_train(data, cfg, cache)
    lf = label_free_space(data, cfg, cache)
    print(f"classifier held-out accuracy {clf.info['heldout_accuracy']:.3f}; "
          f"label-free rotation accuracy {lf.info['heldout_accuracy']:.3f}")
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(data), generator=gen)
    ref = data.x[perm[: args.num]]
    sets: dict[str, torch.Tensor] = {"real vs real (disjoint halves)": data.x[perm[args.num : 2 * args.num]]}
    along: list[str] = []  # the first run's checkpoints: quality along one training run
    for i, run_dir in enumerate(args.run_dirs):
        for ckpt in sorted((run_dir / "checkpoints").glob("step_*.pt"), key=lambda p: int(p.stem.split("_")[1])):
            run = load_run(ckpt)
            for ema in (False, True):
                if ema and run.ema_G is None:
                    continue
                name = f"{run.config['model']['name']} step {run.step}{' EMA' if ema else ''}"
                sets[name] = generate(run, args.num, ema=ema, seed=1).x
                along += [name] if i == 0 else []
    runs = [n for n in sets if n != "real vs real (disjoint halves)"]
    sets.update(broken_generators(data.x, args.num, gen))
    ref_clf, ref_lf = clf.embed(ref)[0], lf.embed(ref)[0]
    rows = []
    for name, x in sets.items():
        rows.append((name, fid_from_features(ref_clf, clf.embed(x)[0]), fid_from_features(ref_lf, lf.embed(x)[0])))
    print("| generator | FID (mnist_5k-clf) | FID (mnist_5k-rot, label-free) |\n|---|---|---|")
    for name, a, b in rows:
        print(f"| {name} | {a:.3f} | {b:.4f} |")
    gens = rows[1:]
    rho = spearman([r[1] for r in gens], [r[2] for r in gens])
    for label, names in (("the first run's checkpoints", along), ("all run checkpoints", runs)):
        sub = [r for r in gens if r[0] in names]
        print(f"Spearman over {label} ({len(sub)}): {spearman([r[1] for r in sub], [r[2] for r in sub]):.3f}")
    print(f"\nSpearman over {len(gens)} generators: {rho:.3f}; real vs real: clf {rows[0][1]:.3f} / "
          f"label-free {rows[0][2]:.4f} (lowest of each column: "
          f"{min(r[1] for r in rows) == rows[0][1]} / {min(r[2] for r in rows) == rows[0][2]}); "
          f"{time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
