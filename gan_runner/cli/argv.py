"""gan-run's command line before Hydra composes it: the checks, rewrites and explanations of its overrides.

What Hydra's parser would crash on is refused here in one line; `trainer.resume=RUN` is rewritten to continue RUN in
its own directory; the plugins a command line names are read out; a composition error becomes one line saying which
name or key is wrong and what would be right. The entry point (cli/train.py) calls these and prints.
"""
from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

from omegaconf import OmegaConf

from gan_runner.errors import UserError


def resume_in_place(argv: list[str]) -> list[str]:
    """`trainer.resume=RUN` continues RUN in its own directory unless hydra.run.dir is given."""
    resume = [a.split("=", 1)[1] for a in argv if a.startswith("trainer.resume=")]
    if not resume or any(a.startswith("hydra.run.dir=") for a in argv) or "-m" in argv or "--multirun" in argv:
        return argv
    from gan_runner.checkpoint import run_dir_of

    target = resume[-1]
    if target in ("", "null", "None", "auto") or not Path(target).exists():
        return argv  # run() reports the bad path with one clear line
    return argv + [f"hydra.run.dir={run_dir_of(target)}"]


MAX_KEY = 255  # no config key is longer; Hydra would look such a name up as a file (ENAMETOOLONG)
_INT = re.compile(r"[+-]?\d+")


def check_overrides(argv: list[str]) -> None:
    """Refuse up front what Hydra's parser would crash on: absurdly long keys, integers beyond 64 bits
    (Python will not even parse one of 4,300+ digits); and a run dir another gan-run is writing."""
    multirun = "-m" in argv or "--multirun" in argv
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        if len(key) > MAX_KEY:
            raise UserError(f"override key '{key[:40]}...' is {len(key)} characters long; no config key is "
                            "(gan-run --cfg job lists them)")
        for token in re.split(r"[\[\],:]", value):
            token = token.strip()
            if not _INT.fullmatch(token):
                continue
            # a sweep's jobs each check their own values (one bad job fails alone); only what Hydra cannot parse ends it
            too_big = len(token) > 4000 if multirun else len(token) > 21 or not -(2**63) <= int(token) < 2**64
            if too_big:
                raise UserError(f"{key.lstrip('+~')}={token[:20]}... is an integer beyond 64 bits ({len(token)} digits)")
        if key == "hydra.run.dir" and not multirun and os.environ.get("RANK", "0") == "0":  # torchrun: rank 0 holds it
            from gan_runner.training.run_lock import holder_pid_error

            busy = holder_pid_error(Path(value))  # before Hydra writes .hydra/ into someone else's run
            if busy is not None:
                raise busy


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
