"""Sweep job directories named by what they vary: `0_loss=ns,seed=0` rather than `0`.

TensorBoard names a run by its directory, so the name is what tells runs apart in every tab and in gan-report.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable

from omegaconf import OmegaConf

from gan_runner.sweep_keys import override_key, swept_keys_in

RESOLVER = "gan_job_dir"
MAX_NAME = 120  # well under the 255 bytes a file name may have, with room for the job number and a digest
WHERE_KEYS = ("dataset.root", "trainer.resume", "eval.inception_weights", "eval.inception")  # paths: where, not what


def job_dirname(num: object, overrides: Iterable[object], sweep_dir: object, sweeper_params: Any = None) -> str:
    """'N_KEY=VALUE,...' for sweep job N: the overrides its sweep varies (all of its overrides when the sweep's
    multirun.yaml is not found), as one path component of at most ~MAX_NAME characters ('N' when none).

    A path in a value would nest directories, so separators become '_'; a name too long for the file system keeps
    its start and a digest of the whole, so two jobs never share a directory.
    """
    overrides = [str(o) for o in overrides]
    swept = swept_keys_in(Path(str(sweep_dir)), sweeper_params)
    chosen = [o for o in overrides if (override_key(o) in swept if swept is not None else
                                       not o.startswith("hydra") and override_key(o) not in WHERE_KEYS)]
    full = ",".join(chosen)
    name = full.replace("/", "_").replace("\\", "_").replace("\0", "")
    if len(name) > MAX_NAME:
        name = name[:MAX_NAME - 9] + "~" + hashlib.sha1(full.encode()).hexdigest()[:8]
    return f"{num}_{name}" if name else str(num)


def register_resolvers() -> None:
    """Make `${gan_job_dir:NUM,TASK_OVERRIDES,SWEEP_DIR,SWEEPER_PARAMS}` usable in conf/config.yaml."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, job_dirname)
