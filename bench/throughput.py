"""Training throughput: gan-run vs the plain PyTorch DCGAN loop, alternated in one process.

Same data (mnist_5k at 32x32), same architecture and optimizer (`model=dcgan model.width=64
model.z_dim=100 dataset.image_size=32 dataset.batch_size=64`). Each round times `--steps`
iterations of each loop; the table reports medians over `--rounds`, the FLOPs of one iteration
(torch.utils.flop_counter) and the achieved GFLOP/s against this machine's measured fp32 matmul peak.

    python bench/throughput.py [--rounds 5 --steps 30 --workers 2 --device cpu] [--compile]

--compile adds trainer.compile=true twins of the gan-run variants (warmed up, so the compile time
itself is not in the rates; it is printed separately).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import torch
from hydra import compose, initialize_config_module
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plain_dcgan import PlainDCGAN  # noqa: E402

from gan_runner.run import build_trainer  # noqa: E402
from gan_runner.stats import StatsAccumulator  # noqa: E402

CONFIG = ["model=dcgan", "model.width=64", "model.z_dim=100", "dataset.image_size=32", "dataset.batch_size=64",
          "stabilize.r1=0"]  # the plain loop has no R1: compare the same computation
VARIANTS = [  # gan-run option sets compared with the plain loop
    ("gan-run fp32", ["trainer.precision=fp32", "trainer.channels_last=false"]),
    ("gan-run fp32 + channels_last", ["trainer.precision=fp32", "trainer.channels_last=true"]),
    ("gan-run defaults (precision=auto, channels_last)", []),
]
COMPILED = " + compile"


def matmul_peak_gflops(device: str, n: int = 2048, reps: int = 10) -> float:
    """Measured fp32 matmul throughput: the practical peak GFLOP/s of this machine."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def gan_run_loop(overrides: list[str], device: str, base: list[str] = CONFIG):
    """gan-run's trainer for `base` (the benchmark config) + `overrides`, and a function running n iterations."""
    tmp = TemporaryDirectory()
    with initialize_config_module("gan_runner.conf", version_base=None):
        cfg = compose("config", overrides=[*base, f"trainer.device={device}", *overrides])
    trainer = build_trainer(cfg, tmp.name)
    trainer.model.train()
    stats = StatsAccumulator()
    every = cfg.trainer.log_every

    def steps(n: int) -> None:
        for i in range(n):
            log = (i + 1) % every == 0
            trainer.iteration(stats, log)
            trainer.step += 1  # as train() does: lazy penalties are due by step
            if log:
                stats.pop()  # the one host sync per log interval
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    steps._keep = tmp  # keep the temp run dir alive with the closure
    return trainer, steps


def flops_of(fn) -> int:
    """FLOPs counted while `fn` runs."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2, help="plain loop DataLoader workers (the example's default: 2)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true", help="also time each gan-run variant with trainer.compile=true")
    parser.add_argument("overrides", nargs="*", help="extra gan-run overrides for every variant, e.g. trainer.ema=0")
    args = parser.parse_args()
    torch.manual_seed(0)

    plain = PlainDCGAN(workers=args.workers, device=args.device)
    chosen = VARIANTS + ([(name + COMPILED, [*extra, "trainer.compile=true"]) for name, extra in VARIANTS] if args.compile else [])
    variants = {name: gan_run_loop([*extra, *args.overrides], args.device)[1] for name, extra in chosen}
    plain.train(3)
    for name, steps in variants.items():
        t0 = time.perf_counter()
        steps(3)  # warm-up (compiles the compiled variants)
        if name.endswith(COMPILED):
            print(f"{name}: first 3 iterations (compilation) {time.perf_counter() - t0:.1f} s")
    real = plain.batch()
    noise = torch.randn(real.size(0), 100, 1, 1, device=args.device)
    flops = {"plain PyTorch DCGAN": flops_of(lambda: plain.step(real, noise))}
    flops.update({name: flops_of(lambda s=steps: s(1)) for name, steps in variants.items() if not name.endswith(COMPILED)})
    flops.update({name: flops[name.removesuffix(COMPILED)] for name in variants if name.endswith(COMPILED)})  # the same math

    rates: dict[str, list[float]] = {name: [] for name in flops}
    for _ in range(args.rounds):  # alternate so every loop sees the same machine state
        rates["plain PyTorch DCGAN"].append(plain.train(args.steps))
        for name, steps in variants.items():
            t0 = time.perf_counter()
            steps(args.steps)
            rates[name].append(args.steps / (time.perf_counter() - t0))
    peak = matmul_peak_gflops(args.device)
    base = statistics.median(rates["plain PyTorch DCGAN"])
    print(f"device {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"fp32 matmul peak {peak:.1f} GFLOP/s; {args.rounds} rounds x {args.steps} iterations, medians")
    print("| loop | it/s | images/s | vs plain | GFLOP/iteration | GFLOP/s | % of fp32 matmul peak |")
    print("|---|---|---|---|---|---|---|")
    for name, rs in rates.items():
        rate = statistics.median(rs)
        gfs = rate * flops[name] / 1e9
        print(f"| {name} | {rate:.2f} | {rate * 64:.0f} | {rate / base:.2f}x | {flops[name] / 1e9:.2f} | {gfs:.0f} | "
              f"{100 * gfs / peak:.0f}% |")


if __name__ == "__main__":
    main()
