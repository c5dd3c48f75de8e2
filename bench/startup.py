"""Start-up time of the CLI: launch to exit of a 1-step default job, and the import of gan_runner.run.

A 1-step run is what a user waits for before the first progress line, plus one step and one
checkpoint: the import (torch, Hydra, TensorBoard), composing the config, loading mnist_5k,
building the model, one step, the final save. Medians over --repeats fresh processes.

    python bench/startup.py [--repeats 5] [--code DIR]

--code DIR times another checkout of this repository (e.g. `git worktree add /tmp/before REV`):
its gan_runner is imported instead of this one (python -m puts the working directory first on sys.path;
link its conf/ in as `ln -s ../conf DIR/gan_runner/conf`, else the editable install's conf/ is read).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ONE_STEP = ["trainer.max_steps=1", "trainer.device=cpu", "trainer.quiet=true", "trainer.sample_every=1000000",
            "trainer.log_every=1000000"]


def timed(cmd: list[str], cwd: Path) -> float:
    """Wall seconds of cmd, which must succeed."""
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    return time.perf_counter() - t0


def main() -> None:
    """Print the medians as a JSON line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--code", type=Path, default=REPO, help="checkout whose gan_runner is timed (default: this one)")
    args = p.parse_args()
    code = args.code.resolve()
    imports, runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            imports.append(timed([sys.executable, "-c", "import gan_runner.run"], code))
            runs.append(timed([sys.executable, "-m", "gan_runner.cli.train", *ONE_STEP, f"hydra.run.dir={tmp}/run{i}"], code))
    print(json.dumps({"code": str(code), "repeats": args.repeats,
                      "import_gan_runner_run_s": round(statistics.median(imports), 2),
                      "one_step_default_job_s": round(statistics.median(runs), 2)}))


if __name__ == "__main__":
    main()
