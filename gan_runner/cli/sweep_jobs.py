"""Sweeps: a job whose overrides cannot be composed (`model=dcgan,nosuch`) fails alone; the others run.

Hydra's sweeper composes every job of a batch before launching any, and its launcher composes each
again; either raising ends the whole sweep. Wrapping `ConfigLoaderImpl.load_sweep_config` turns such a
job into the default config marked with the reason, so the job still gets its dir, where gan-run
records `status: failed` and its reason in metrics.json, as for a job that fails later. Installed when
gan-run's module is imported, so launcher workers in other processes (joblib) unpickling the task
function get it too. Hydra is pinned below 1.4, where this method's signature is fixed.
"""
from __future__ import annotations

from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf, open_dict

FAILED_KEY = "_gan_runner_compose_error"  # a key no config group uses: the reason a job could not be composed


def install(explain: Callable[[Exception, list[str]], str]) -> None:
    """Make sweep jobs that cannot be composed come out marked with `explain(error, overrides)` (once per process)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    original = ConfigLoaderImpl.load_sweep_config
    if getattr(original, "_gan_runner", False):
        return

    def load_sweep_config(self: Any, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        try:
            return original(self, master_config, sweep_overrides)
        except (HydraException, OmegaConfBaseException, ValueError) as e:
            cfg = original(self, master_config, [])  # the defaults: enough for the job's dir and its record
            with open_dict(cfg):
                cfg.hydra.overrides.task = list(sweep_overrides)  # .hydra/overrides.yaml shows what was asked
                cfg[FAILED_KEY] = explain(e, list(sweep_overrides))
            return cfg

    load_sweep_config._gan_runner = True  # type: ignore[attr-defined]
    ConfigLoaderImpl.load_sweep_config = load_sweep_config  # type: ignore[method-assign]


def compose_failure(cfg: DictConfig) -> str | None:
    """Why this sweep job's overrides could not be composed, or None for a job that composed."""
    reason = OmegaConf.select(cfg, FAILED_KEY, default=None)
    return None if reason is None else str(reason)
