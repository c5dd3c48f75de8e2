"""`gan-run`: the Hydra app. It only composes the config and hands it to `run`.

Errors a user can cause (bad config names, keys or values, missing data) print one line and exit
with code 2; HYDRA_FULL_ERROR=1 shows the full traceback instead.
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gan_runner import sweep_objective
from gan_runner.cli import sweep_jobs
from gan_runner.cli.argv import check_overrides, explain_compose_error, plugin_names, resume_in_place
from gan_runner.cli.boundary import EXIT_DIVERGED, EXIT_USER_ERROR, report, signal_exit_code, user_error_line
from gan_runner.cli.job_dirs import register_resolvers
from gan_runner.cli.searchpath import register as register_search_path
from gan_runner.errors import UserError
from gan_runner.plugins import activate

register_resolvers()  # at import: sweep job dirs are named in the process that runs the job (joblib, submitit too)


def objective_value(metrics: dict, key: str | None) -> float | None:
    """The sweep objective of this job (sweep_objective.py), in the direction the sweeper optimizes."""
    direction = str(OmegaConf.select(HydraConfig.get(), "sweeper.direction", default="minimize"))
    return sweep_objective.objective_value(metrics, key, direction)


def divergence_hint(cfg: DictConfig, metrics: dict) -> str:
    """What to try after a divergence; never what is already on (rollback)."""
    if OmegaConf.select(cfg, "trainer.on_divergence") == "rollback":
        n = len(metrics.get("rollbacks") or [])
        if n == 0:
            return "rollback is on but no checkpoint with finite, bounded weights came before it; lower optimizer.lr_g/lr_d"
        return f"{n} rollback(s) with lower learning rates did not help; lower optimizer.lr_g/lr_d or raise trainer.max_rollbacks"
    return "trainer.on_divergence=rollback retries from a checkpoint with lower learning rates"


def resolved(cfg: DictConfig, argv: list[str]) -> DictConfig:
    """`cfg` with its interpolations resolved; a dangling `${...}` becomes one UserError line."""
    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as e:
        raise UserError(explain_compose_error(e, argv)) from None
    return cfg


@hydra.main(version_base=None, config_path="pkg://gan_runner.conf", config_name="config")
def _app(cfg: DictConfig) -> float | None:
    from gan_runner.atomic import write_json
    from gan_runner.run import run  # imported late: `--help` and `--cfg` stay fast

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if _under_torchrun():
        from gan_runner.training.distributed import shared_run_dir

        run_dir = shared_run_dir(run_dir)  # Hydra resolves ${now:...} in each process: rank 0's dir for all
    try:
        failed = sweep_jobs.compose_failure(cfg)
        if failed is not None:  # a sweep job whose overrides did not compose (sweep_jobs.py)
            raise UserError(failed)
        metrics = run(resolved(cfg, sys.argv[1:]), run_dir)
    except Exception as e:  # noqa: BLE001  (the boundary sorts user errors from bugs)
        if HydraConfig.get().mode == RunMode.MULTIRUN and user_error_line(e) is not None and not _full_error_requested():
            # One bad job must not end a sweep: record why it failed and let the others run.
            line = user_error_line(e)
            print(f"error: {line}", file=sys.stderr)
            write_json(run_dir / "metrics.json", {"status": "failed", "reason": line})
            return objective_value({"status": "failed"}, OmegaConf.select(cfg, "objective", default=None))
        # sys.exit here, not a raise: Hydra would print its own "Error executing job" line first
        sys.exit(report(e, _full_error_requested()))
    rel = os.path.relpath(run_dir)
    quiet = os.environ.get("RANK", "0") != "0"  # torchrun: rank 0 reports for every rank
    if metrics["status"] == "diverged":
        kept = "the last good checkpoint is in " + f"{rel}/checkpoints" if (run_dir / "checkpoints").is_dir() else "no checkpoint was written"
        if not quiet:
            print(f"error: training diverged at {metrics['reason']}; {kept} ({divergence_hint(cfg, metrics)})", file=sys.stderr)
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            sys.exit(EXIT_DIVERGED)
        return objective_value(metrics, cfg.get("objective"))
    verb = "stopped" if metrics["status"] == "interrupted" else "done"
    if not quiet:
        print(f"{verb}: {metrics['step']} steps in {metrics['train_time_s']:.0f}s "
              f"({metrics['steps_per_s']:.1f} it/s); run dir: {rel}; view: tensorboard --logdir {rel}")
    if metrics["status"] == "interrupted" and HydraConfig.get().mode != RunMode.MULTIRUN:
        if not quiet:
            print(f"resume with: gan-run <same overrides> trainer.resume={rel}")
        sys.exit(signal_exit_code(metrics["signal"]))  # the shell convention for death by signal, after a clean save
    if metrics["status"] == "interrupted" and _sequential_sweep():
        # The jobs run in this process, whose handler caught the signal: without this, Ctrl-C ends one job and
        # Hydra starts the next. (Parallel launchers' parents get the signal themselves and stop.)
        print(f"sweep stopped by signal {metrics['signal']} during job {rel}; later jobs not started", file=sys.stderr)
        sys.exit(signal_exit_code(metrics["signal"]))
    return objective_value(metrics, cfg.get("objective"))


_USER_FULL_ERROR = os.environ.get("HYDRA_FULL_ERROR") == "1"


def _full_error_requested() -> bool:
    return _USER_FULL_ERROR


def _sequential_sweep() -> bool:
    """Whether this is a multirun whose jobs run one after another in this process (Hydra's basic launcher)."""
    target = str(OmegaConf.select(HydraConfig.get(), "launcher._target_", default=""))
    return HydraConfig.get().mode == RunMode.MULTIRUN and target.endswith("BasicLauncher")


def _under_torchrun() -> bool:
    """Whether torchrun started this process as one of several (imports torch only then)."""
    return os.environ.get("WORLD_SIZE", "1") != "1"


sweep_jobs.install(lambda e, overrides: explain_compose_error(e, overrides))  # here: launcher workers import this module too


def main() -> None:
    """Console entry point of `gan-run`: every error a user can cause is one line and exit 2 (boundary.py)."""
    try:
        _main()
    except (HydraException, OmegaConfBaseException) as e:
        if _USER_FULL_ERROR:
            raise
        print(f"error: {explain_compose_error(e, sys.argv[1:])}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001  (Hydra's own writes, Ctrl-C during start-up)
        if _raised_by_hydra(e) and not _USER_FULL_ERROR:
            # Hydra's parser and defaults list raise plain ValueError/TypeError for some overrides (`dataset=0`)
            print(f"error: cannot compose the config from these overrides: {' '.join(str(e).split())[:200]}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
        sys.exit(report(e, _USER_FULL_ERROR))


def _raised_by_hydra(e: BaseException) -> bool:
    """Whether `e` came out of Hydra or OmegaConf composing the config (not out of our task or a file write)."""
    frames = traceback.extract_tb(e.__traceback__)
    return (isinstance(e, (ValueError, TypeError, AssertionError)) and bool(frames)
            and any(part in frames[-1].filename for part in ("/hydra/", "/omegaconf/")))


def _main() -> None:
    argv = resume_in_place(sys.argv[1:])
    try:
        activate(plugin_names(argv))  # before Hydra starts: their conf/ folders join the search path (searchpath.py)
        register_search_path()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    if _under_torchrun():
        from gan_runner.training.distributed import env_ranks, rank_overrides

        argv = rank_overrides(argv, env_ranks())
    check_overrides(argv)
    sys.argv = [sys.argv[0]] + argv
    # Let composition errors reach us as exceptions (Hydra would print its multi-line report).
    os.environ["HYDRA_FULL_ERROR"] = "1"
    _app()


if __name__ == "__main__":
    main()
