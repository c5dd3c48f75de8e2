"""Which keys a Hydra sweep varies, read from the multirun.yaml Hydra writes into the sweep dir before any job runs.

Shared by the job-dir names (cli/job_dirs.py) and the HParams tab (training/hparams.py); imports nothing heavy, since
gan-run loads it at start.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml


def override_key(override: str) -> str:
    """'+a.b=1' -> 'a.b'; 'loss=ns' -> 'loss'."""
    return override.split("=", 1)[0].lstrip("+~")


def swept_keys_in(sweep_dir: Path, sweeper_params: Mapping[str, Any] | None = None) -> set[str] | None:
    """Keys varied by the sweep in `sweep_dir`: the sweep overrides of its multirun.yaml (`loss=ns,wgan`,
    `seed=range(3)`; Hydra's basic sweeper writes it before any job) and the sweeper's search space
    (hydra.sweeper.params, e.g. Optuna's, which writes no multirun.yaml); None when neither is there."""
    keys = {str(k) for k in sweeper_params or {}}
    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        return {k.lstrip("+~") for k in keys} or None
    from hydra.core.override_parser.overrides_parser import OverridesParser

    hydra_cfg = (yaml.safe_load(path.read_text()) or {}).get("hydra") or {}
    task = [str(o) for o in (hydra_cfg.get("overrides") or {}).get("task") or []]
    keys |= {o.key_or_group for o in OverridesParser.create().parse_overrides(task) if o.is_sweep_override()}
    keys |= set((hydra_cfg.get("sweeper") or {}).get("params") or {})
    return {k.lstrip("+~") for k in keys}


def job_sweeper_params(run_dir: Path) -> dict[str, Any] | None:
    """hydra.sweeper.params of a sweep job (from its .hydra/hydra.yaml); None for a single run or no search space."""
    path = run_dir / ".hydra" / "hydra.yaml"
    hydra_cfg = ((yaml.safe_load(path.read_text()) or {}).get("hydra") or {}) if path.is_file() else {}
    if str(hydra_cfg.get("mode")) != "MULTIRUN":
        return None
    return (hydra_cfg.get("sweeper") or {}).get("params") or None
