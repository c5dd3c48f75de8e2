"""`gan-run`: the Hydra app. It only composes the config and hands it to `run`.

Errors a user can cause (bad config names, keys or values, missing data) print one line and exit
with code 2; HYDRA_FULL_ERROR=1 shows the full traceback instead.
"""
from __future__ import annotations

import difflib
import math
import os
import re
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gan_runner.cli.job_dirs import register_resolvers
from gan_runner.cli.searchpath import register as register_search_path
from gan_runner.errors import UserError
from gan_runner.plugins import activate

EXIT_USER_ERROR = 2
EXIT_DIVERGED = 3
register_resolvers()  # at import: sweep job dirs are named in the process that runs the job (joblib, submitit too)


def objective_value(metrics: dict, key: str | None) -> float | None:
    """The sweep objective: metrics.json's dotted `key` (the first dot splits section and name).

    A failed or diverged run returns the worst value for the sweeper's direction (+inf when
    minimizing, -inf when maximizing): Optuna 2.x accepts it, while the Hydra Optuna plugin
    crashes on NaN, and the sampler learns to avoid that region.
    """
    if not key:
        return None
    value = None
    if metrics.get("status") == "completed":
        section, _, name = key.partition(".")
        value = metrics.get(section, {}).get(name) if name else metrics.get(section)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    direction = str(OmegaConf.select(HydraConfig.get(), "sweeper.direction", default="minimize"))
    return -math.inf if direction.startswith("max") else math.inf


@hydra.main(version_base=None, config_path="pkg://gan_runner.conf", config_name="config")
def _app(cfg: DictConfig) -> float | None:
    from gan_runner.atomic import write_json
    from gan_runner.run import run  # imported late: `--help` and `--cfg` stay fast

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if _under_torchrun():
        from gan_runner.training.distributed import shared_run_dir

        run_dir = shared_run_dir(run_dir)  # Hydra resolves ${now:...} in each process: rank 0's dir for all
    try:
        metrics = run(cfg, run_dir)
    except UserError as e:
        if _full_error_requested():
            raise
        print(f"error: {e}", file=sys.stderr)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            # One bad job must not end a sweep: record why it failed and let the others run.
            write_json(run_dir / "metrics.json", {"status": "failed", "reason": str(e)})
            return objective_value({"status": "failed"}, cfg.get("objective"))
        sys.exit(EXIT_USER_ERROR)
    rel = os.path.relpath(run_dir)
    quiet = os.environ.get("RANK", "0") != "0"  # torchrun: rank 0 reports for every rank
    if metrics["status"] == "diverged":
        kept = "the last good checkpoint is in " + f"{rel}/checkpoints" if (run_dir / "checkpoints").is_dir() else "no checkpoint was written"
        if not quiet:
            print(f"error: training diverged at {metrics['reason']}; {kept} "
                  "(trainer.on_divergence=rollback retries from a checkpoint with lower learning rates)", file=sys.stderr)
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
        sys.exit(128 + int(metrics["signal"]))  # the shell convention for death by signal, after a clean save
    if metrics["status"] == "interrupted" and _sequential_sweep():
        # The jobs run in this process, whose handler caught the signal: without this, Ctrl-C ends one job and
        # Hydra starts the next. (Parallel launchers' parents get the signal themselves and stop.)
        print(f"sweep stopped by signal {metrics['signal']} during job {rel}; later jobs not started", file=sys.stderr)
        sys.exit(128 + int(metrics["signal"]))
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


def _resume_in_place(argv: list[str]) -> list[str]:
    """`trainer.resume=RUN` continues RUN in its own directory unless hydra.run.dir is given."""
    resume = [a.split("=", 1)[1] for a in argv if a.startswith("trainer.resume=")]
    if not resume or any(a.startswith("hydra.run.dir=") for a in argv) or "-m" in argv or "--multirun" in argv:
        return argv
    from gan_runner.training.checkpoint import run_dir_of

    target = resume[-1]
    if target in ("", "null", "None", "auto") or not Path(target).exists():
        return argv  # run() reports the bad path with one clear line
    return argv + [f"hydra.run.dir={run_dir_of(target)}"]


def explain_compose_error(exc: Exception, argv: list[str]) -> str:
    """One line for a Hydra composition error: which name or key is wrong and what would be right."""
    msg = str(exc)
    missing = re.search(r"Could not find '([^']+)/([^'/]+)'", msg)
    if missing:
        group, option = missing.groups()
        choices = re.findall(r"^\t(\S+)$", msg.split("Config search path")[0], flags=re.M)
        hint = ""
        if group.startswith("hydra/") or group == "hparams_search":
            hint = "; launcher and sweeper plugins come with: pip install 'gan-runner[sweeps]' (SLURM: 'gan-runner[slurm]')"
        return f"unknown {group} '{option}' (choices: {', '.join(choices)}){hint}"
    bad_key = re.search(r"Could not override '([^']+)'", msg)
    if bad_key:
        key = bad_key.group(1)
        hint = _closest_key(key, [a for a in argv if not a.startswith(key + "=")])
        return f"unknown config key '{key}'" + (f"; did you mean '{hint}'?" if hint else "") + \
            " (gan-run --cfg job lists every key)"
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip() and not ln.strip().startswith(("full_key", "object_type", "Set the environment"))]
    return " ".join(lines)[:300] or type(exc).__name__


def _closest_key(key: str, other_overrides: list[str]) -> str | None:
    """The composed config key nearest to a misspelled one."""
    from hydra import compose, initialize_config_module

    try:
        with initialize_config_module("gan_runner.conf", version_base=None):
            cfg = compose("config", overrides=[a for a in other_overrides if "=" in a and not a.startswith("hydra")])
    except Exception:
        return None
    keys = _all_keys(OmegaConf.to_container(cfg))
    match = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    return match[0] if match else None


def _all_keys(d: object, prefix: str = "") -> list[str]:
    if not isinstance(d, dict):
        return []
    out = []
    for k, v in d.items():
        out.append(f"{prefix}{k}")
        out += _all_keys(v, f"{prefix}{k}.")
    return out


def plugin_names(argv: list[str]) -> list[str]:
    """The plugins a command line names: `plugins=[a.py,b]` / `+plugins=...` (a single name without brackets too)."""
    names: list[str] = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+~") == "plugins":
            value = value.strip()
            if value.startswith("[") and value.endswith("]"):
                value = value[1:-1]
            names += [v.strip().strip("'\"") for v in value.split(",") if v.strip()]
    return names


def main() -> None:
    """Console entry point of `gan-run`."""
    argv = _resume_in_place(sys.argv[1:])
    try:
        activate(plugin_names(argv))  # before Hydra starts: their conf/ folders join the search path (searchpath.py)
        register_search_path()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    if _under_torchrun():
        from gan_runner.training.distributed import env_ranks, rank_overrides

        try:
            argv = rank_overrides(argv, env_ranks())
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)
    sys.argv = [sys.argv[0]] + argv
    # Let composition errors reach us as exceptions (Hydra would print its multi-line report).
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        _app()
    except (HydraException, OmegaConfBaseException) as e:
        if _USER_FULL_ERROR:
            raise
        print(f"error: {explain_compose_error(e, argv)}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)


if __name__ == "__main__":
    main()
