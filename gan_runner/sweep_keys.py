"""Which keys a Hydra sweep varies, read from the multirun.yaml Hydra writes into the sweep dir before any job runs.

Shared by the job-dir names (cli/job_dirs.py) and the HParams tab (training/hparams.py); imports nothing heavy, since
gan-run loads it at start.
"""
from __future__ import annotations

from pathlib import Path

import yaml


def override_key(override: str) -> str:
    """'+a.b=1' -> 'a.b'; 'loss=ns' -> 'loss'."""
    return override.split("=", 1)[0].lstrip("+~")


def swept_keys_in(sweep_dir: Path) -> set[str] | None:
    """Keys varied by the sweep in `sweep_dir`: sweep overrides (`loss=ns,wgan`, `seed=range(3)`) and the sweeper's
    search space (Optuna's hydra.sweeper.params); None when `sweep_dir` holds no multirun.yaml."""
    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        return None
    from hydra.core.override_parser.overrides_parser import OverridesParser

    hydra_cfg = (yaml.safe_load(path.read_text()) or {}).get("hydra") or {}
    task = [str(o) for o in (hydra_cfg.get("overrides") or {}).get("task") or []]
    keys = {o.key_or_group for o in OverridesParser.create().parse_overrides(task) if o.is_sweep_override()}
    keys |= set((hydra_cfg.get("sweeper") or {}).get("params") or {})
    return {k.lstrip("+~") for k in keys}
