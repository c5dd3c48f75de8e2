"""Training steps/s per placement, measured in one process: one trainer per placement on the same cached
image folder, timed in alternating blocks of steps, so load from other processes falls on all alike.

Separate runs (bench/data_prepare.py) pay start-up noise per run; this compares the placements alone.

    flock /tmp/gan_bench.lock .venv/bin/python bench/data_placement_steps.py /work/bench_data/jpeg_200000_128 \
        --cache /work/bench_data/cache --rounds 6 --block 20
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    """Print one JSON line: steps/s of each placement per round, their medians and bests."""
    p = argparse.ArgumentParser()
    p.add_argument("folder", help="an image folder already prepared in --cache (bench/data_prepare.py makes one)")
    p.add_argument("--cache", required=True, help="the GAN_RUNNER_CACHE holding its prepared entry")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--width", type=int, default=16, help="DCGAN width")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--block", type=int, default=20, help="timed steps per placement per round (after 3 warm-up)")
    args = p.parse_args()
    os.environ["GAN_RUNNER_CACHE"] = args.cache
    from hydra import compose, initialize_config_module

    from gan_runner.run import build_trainer
    from gan_runner.stats import StatsAccumulator

    trainers = {}
    runs = Path(tempfile.mkdtemp(prefix="placement_steps_"))
    for pl in ("device", "host", "stream"):
        with initialize_config_module("gan_runner.conf", version_base=None):
            cfg = compose("config", overrides=[
                "dataset=image_folder", f"dataset.root={args.folder}", f"dataset.image_size={args.image_size}",
                f"dataset.placement={pl}", f"model.width={args.width}", "trainer.device=cpu", "trainer.quiet=true"])
        trainers[pl] = build_trainer(cfg, runs / pl)  # writes nothing until train(), which is never called
        trainers[pl].model.train()
    rates: dict[str, list[float]] = {pl: [] for pl in trainers}
    for _ in range(args.rounds):
        for pl, tr in trainers.items():
            stats = StatsAccumulator()
            for _ in range(3):
                tr.iteration(stats, False)
            t = time.perf_counter()
            for _ in range(args.block):
                tr.iteration(stats, False)
            rates[pl].append(round(args.block / (time.perf_counter() - t), 2))
    print(json.dumps({"rounds": rates, "median": {k: statistics.median(v) for k, v in rates.items()},
                      "best": {k: max(v) for k, v in rates.items()}, "load_avg_end": os.getloadavg()}))


if __name__ == "__main__":
    main()
