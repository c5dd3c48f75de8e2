"""Checkpoints: plain dicts of state_dicts and tensors, written atomically, read with weights_only=True.

Atomic = write a temp file in the same directory, fsync, os.replace, fsync the directory: a crash or
a full disk at any moment leaves the previous checkpoint intact, never a half-written one.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from gan_runner.errors import UserError

FORMAT_VERSION = 1
CKPT_DIR = "checkpoints"
LAST = "last.pt"
BEST = "best.pt"  # trainer.eval_every: the best generator so far by eval.best (never a resume candidate)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely (no code runs on load); one clear UserError for a bad file."""
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"checkpoint {path} is unreadable (truncated, corrupt or not a gan-runner checkpoint): {first[:200]}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT_VERSION:
        raise UserError(f"checkpoint {path} is not a gan-runner checkpoint (format {FORMAT_VERSION})")
    return ckpt


def resolve_checkpoint(target: str | Path) -> Path:
    """A checkpoint file from a run dir (its checkpoints/last.pt) or a checkpoint path."""
    p = Path(target).expanduser()
    if p.is_dir():
        last = p / CKPT_DIR / LAST
        if not last.is_file():
            raise UserError(f"{p} is not a gan-runner run dir with a checkpoint (no {CKPT_DIR}/{LAST})")
        return last
    if not p.exists():
        raise UserError(f"{p} does not exist: give a run dir or a checkpoint file")
    return p


def run_dir_of(target: str | Path) -> Path:
    """The run dir a resume target belongs to (the dir itself, or the parent of checkpoints/)."""
    p = Path(target).expanduser().resolve()
    if p.is_file() and p.parent.name == CKPT_DIR:
        return p.parent.parent
    return p


def rng_state() -> dict[str, Any]:
    """Global RNG states (CPU and every CUDA device) as tensors."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states saved by `rng_state`."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_candidates(run_dir: Path) -> list[Path]:
    """A run's checkpoints, newest first: last.pt, then step_N.pt by descending N."""
    ckpt_dir = Path(run_dir) / CKPT_DIR
    steps = sorted(ckpt_dir.glob("step_*.pt"), key=lambda p: p.stem, reverse=True)
    last = ckpt_dir / LAST
    return ([last] if last.is_file() else []) + steps


def load_newest_good(run_dir: Path, map_location: str | torch.device = "cpu") -> tuple[dict[str, Any], Path, list[str]] | None:
    """The newest checkpoint of a run that loads, its path, and one line per newer one that did not."""
    problems: list[str] = []
    for path in checkpoint_candidates(run_dir):
        try:
            return load_checkpoint(path, map_location), path, problems
        except UserError as e:
            problems.append(str(e))
    return None
