"""What each part of the default job's training step costs on this machine, and the top operators.

Every variant is the default job (`gan-run` with no overrides: DCGAN width 32, batch 64, lazy R1, EMA,
precision=auto, channels_last) with one change; the variants alternate round by round in one process,
so each sees the same machine state. Rates are medians of `--rounds` x `--steps` iterations (the
trainer's iteration, stats popped once per log interval as in training); grids, checkpoints and
start-up are timed apart (`bench/startup.py` has the start-up breakdown).

    python bench/step_costs.py [--rounds 5 --steps 40] [--profile 30] [--compile] [extra overrides]

To stand in for an AVX2-only CPU on an AMX one, cap the ISA the kernels may use (precision=auto then picks
fp32, as on such a CPU):

    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python bench/step_costs.py
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import gan_run_loop  # noqa: E402

VARIANTS = [  # (label, overrides on top of the default job)
    ("default job", []),
    ("without R1 (stabilize.r1=0)", ["stabilize.r1=0"]),
    ("R1 every 16 D steps instead of 4", ["stabilize.reg_every=16"]),
    ("without EMA (trainer.ema=0)", ["trainer.ema=0"]),
    ("fused Adam (optimizer.fused=true)", ["optimizer.fused=true"]),
    ("channels_last=false", ["trainer.channels_last=false"]),
    ("batch 32", ["dataset.batch_size=32"]),
]


class _NoLogger:
    """Stands in for RunLogger where only the grid's rendering and PNG are timed."""

    def image(self, *args: object) -> None:
        """Drop the image."""


def cpu_name() -> str:
    """The CPU's model name and its vector ISA flags that matter here (for the figures' caption)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "unknown CPU")
    flags = set(next((ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), []))
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{name} ({', '.join(isa)}; kernels capped at {torch.backends.cpu.get_cpu_capability()})"


def profile_table(steps, n: int, top: int = 14) -> str:
    """The operators taking the most self CPU time over `n` iterations, as a markdown table."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        steps(n)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    rows = ["| operator | self CPU ms / iteration | share |", "|---|---|---|"]
    for e in events[:top]:
        rows.append(f"| {e.key} | {e.self_cpu_time_total / 1e3 / n:.1f} | {100 * e.self_cpu_time_total / total:.0f}% |")
    rows.append(f"| all operators | {total / 1e3 / n:.1f} | 100% |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--profile", type=int, default=30, help="iterations of the default job to profile (0: none)")
    parser.add_argument("--compile", action="store_true", help="add trainer.compile=true (its compile time printed apart)")
    parser.add_argument("overrides", nargs="*", help="extra overrides for every variant")
    args = parser.parse_args()
    torch.manual_seed(0)
    chosen = VARIANTS + ([("trainer.compile=true", ["trainer.compile=true"])] if args.compile else [])
    loops = {}
    for name, extra in chosen:
        trainer, steps = gan_run_loop([*extra, *args.overrides], "cpu", base=[])
        t0 = time.perf_counter()
        steps(3)  # warm-up: allocator, oneDNN primitive caches (and compilation)
        if "compile" in name:
            print(f"{name}: first 3 iterations (compilation included) {time.perf_counter() - t0:.1f} s", flush=True)
        loops[name] = (trainer, steps)
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(args.rounds):
        for name, (_, steps) in loops.items():
            t0 = time.perf_counter()
            steps(args.steps)
            rates[name].append(args.steps / (time.perf_counter() - t0))
    trainer = loops["default job"][0]
    print(f"{cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} threads, precision "
          f"{trainer.opts.precision}; medians of {args.rounds} rounds x {args.steps} iterations")
    base = statistics.median(rates["default job"])
    print("| variant | it/s | ms / iteration | vs default job |")
    print("|---|---|---|---|")
    for name, rs in rates.items():
        r = statistics.median(rs)
        print(f"| {name} | {r:.2f} | {1e3 / r:.1f} | {r / base:.2f}x |")
    # Costs outside the iteration: one sample grid (every trainer.sample_every) and one checkpoint (ckpt_every).
    t0 = time.perf_counter()
    trainer.write_grids(_NoLogger())  # the PNGs under samples/; TensorBoard's image write left out
    grid_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    trainer.save()
    ckpt_s = time.perf_counter() - t0
    o = trainer.opts
    print(f"one sample grid {1e3 * grid_s:.0f} ms, one checkpoint {1e3 * ckpt_s:.0f} ms (the default job writes "
          f"{o.max_steps // o.sample_every} grids and {-(-o.max_steps // o.ckpt_every)} checkpoints in {o.max_steps} steps)")
    if args.profile:
        print(profile_table(loops["default job"][1], args.profile))


if __name__ == "__main__":
    main()
