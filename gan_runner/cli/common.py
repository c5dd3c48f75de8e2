"""What gan-sample and gan-eval share: the run/device/seed arguments, loading a run, one-line errors."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Sequence

import torch

from gan_runner.cli.boundary import EXIT_USER_ERROR, guarded  # noqa: F401  (the CLIs' one boundary)
from gan_runner.errors import UserError

if TYPE_CHECKING:
    from gan_runner.generation.loading import LoadedRun


def add_common_args(p: argparse.ArgumentParser) -> None:
    """Arguments both CLIs share: the run, weights, device, seed, verbosity."""
    p.add_argument("run", metavar="RUN_DIR", help="a gan-run run dir (uses checkpoints/last.pt) or a checkpoint file")
    p.add_argument("--ema", action=argparse.BooleanOptionalAction, default=True,
                   help="sample with the EMA generator where the run kept one (default) or the raw one")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--seed", type=seed64, default=0, help="latent seed; same samples on CPU and GPU (default 0)")
    p.add_argument("--batch-size", type=int, default=500, help="generator batch size (default 500)")
    p.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                   help="a plugin .py file or module the run was built with (installed plugins load by themselves)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--verbose", action="store_true", help="full tracebacks for errors")


def seed64(text: str) -> int:
    """A --seed value: an integer torch's generators take (at most 64 bits)."""
    try:
        n = int(text) if len(text.strip()) <= 21 else None
    except ValueError:
        n = None
    if n is None or not -(2**63) <= n < 2**64:
        raise argparse.ArgumentTypeError(f"expected an integer of at most 64 bits, got {text[:30]!r}")
    return n


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
