"""`gan-run`: the Hydra app. It only composes the config and hands it to `run`."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from gan_runner.errors import UserError


@hydra.main(version_base=None, config_path="pkg://gan_runner.conf", config_name="config")
def _app(cfg: DictConfig) -> float | None:
    from gan_runner.run import run  # imported late: `--help`/`--cfg` stay fast

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        metrics = run(cfg, run_dir)
    except UserError as e:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    rel = os.path.relpath(run_dir)
    print(f"done: {metrics['step']} steps in {metrics['train_time_s']:.0f}s "
          f"({metrics['steps_per_s']:.1f} it/s); run dir: {rel}; view: tensorboard --logdir {rel}")
    return None


def _resume_in_place(argv: list[str]) -> list[str]:
    """`trainer.resume=RUN` continues RUN in its own directory unless hydra.run.dir is given."""
    resume = [a.split("=", 1)[1] for a in argv if a.startswith("trainer.resume=")]
    if not resume or any(a.startswith("hydra.run.dir=") for a in argv) or "-m" in argv or "--multirun" in argv:
        return argv
    from gan_runner.training.checkpoint import run_dir_of

    target = resume[-1]
    if target in ("", "null", "None") or not Path(target).exists():
        return argv  # run() reports the bad path with one clear line
    return argv + [f"hydra.run.dir={run_dir_of(target)}"]


def main() -> None:
    """Console entry point of `gan-run`."""
    sys.argv = [sys.argv[0]] + _resume_in_place(sys.argv[1:])
    _app()


if __name__ == "__main__":
    main()
