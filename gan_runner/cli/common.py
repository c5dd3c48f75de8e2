"""What gan-sample and gan-eval share: the run/device/seed arguments, loading a run, one-line errors."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Callable, Sequence

import torch

from gan_runner.errors import UserError

if TYPE_CHECKING:
    from gan_runner.generation.loading import LoadedRun

EXIT_USER_ERROR = 2


def add_common_args(p: argparse.ArgumentParser) -> None:
    """Arguments both CLIs share: the run, weights, device, seed, verbosity."""
    p.add_argument("run", metavar="RUN_DIR", help="a gan-run run dir (uses checkpoints/last.pt) or a checkpoint file")
    p.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True,
                   help="sample with the EMA generator where the run kept one (default) or the raw one")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--seed", type=int, default=0, help="latent seed; same samples on CPU and GPU (default 0)")
    p.add_argument("--batch-size", type=int, default=500, help="generator batch size (default 500)")
    p.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                   help="a plugin .py file or module the run was built with (installed plugins load by themselves)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--verbose", action="store_true", help="full tracebacks for errors")


def resolve_device(name: str) -> torch.device:
    """The --device choice ('auto' picks CUDA when present), with the trainer's checks."""
    from gan_runner.devices import resolve_device as resolve

    return resolve(name, "--device")


def load_for_cli(target: str, device: torch.device, plugins: Sequence[str] = ()) -> "LoadedRun":
    """load_run after loading the installed and named plugins, with a checkpoint that no longer fits reported as one line."""
    from gan_runner.generation.loading import load_run
    from gan_runner.plugins import activate, require

    activate(plugins)

    try:
        # a plugin-built run needs its plugin loaded: checked on the checkpoint's record, never imported from it
        return load_run(target, device, check=lambda ckpt: require(ckpt.get("plugins")))
    except (RuntimeError, KeyError, TypeError) as e:  # state_dict keys/shapes or config entries that do not fit
        first = (str(e).strip().splitlines() or [type(e).__name__])[-1].strip()[:200]
        raise UserError(f"cannot rebuild the model from {target} ({first}); "
                        "was it written by another gan-runner version?") from e


def guarded(body: Callable[[], None], verbose: bool) -> int:
    """Run body; a UserError becomes one 'error: ...' line on stderr and exit code 2."""
    try:
        body()
    except UserError as e:
        if verbose:
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
