"""Checkpoints: plain dicts of state_dicts and tensors, written atomically, read with weights_only=True.

Atomic = write a temp file in the same directory, fsync, os.replace, fsync the directory: a crash or
a full disk at any moment leaves the previous checkpoint intact, never a half-written one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from gan_runner.atomic import save_atomic  # noqa: F401  (checkpoints are written with it)
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
    except Exception as e:  # noqa: BLE001
        # weights_only: the unpickler runs none of the file's code, so whatever it raises (UnpicklingError, BadZipFile,
        # RuntimeError, a 25-byte text file's IndexError, struct.error...) says the file is not a checkpoint
        raise UserError(f"checkpoint {path} is unreadable (truncated, corrupt or not a gan-runner checkpoint): "
                        f"{type(e).__name__}: {_first(e)}") from None
    problem = _shape_problem(ckpt)
    if problem is not None:
        raise UserError(f"checkpoint {path} is not a gan-runner checkpoint (format {FORMAT_VERSION}): {problem}")
    return ckpt


def _first(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:200]


def _shape_problem(ckpt: object) -> str | None:
    """What makes a loaded object not a checkpoint this version wrote (None when it is one)."""
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT_VERSION:
        return "no format marker"
    step = ckpt.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return f"its step is {str(step)[:40]!r}, not a count"
    for key in ("G", "D"):
        if not isinstance(ckpt.get(key), dict):
            return f"it has no '{key}' weights"
    config = ckpt.get("config")
    if not isinstance(config, dict) or not all(isinstance(config.get(k), dict) and "name" in config[k] for k in ("model", "dataset")):
        return "it records no model and dataset config"
    return None


# What a resumed run must share with its checkpoint: the model's options, and what shapes the data.
_RESUME_MUST_MATCH = ("model", "optimizer", "dataset.name", "dataset.image_size", "dataset.channels", "dataset.num_classes",
                      "dataset.classes", "dataset.labels", "dataset.stack")


def config_difference(saved: Any, current: dict[str, Any]) -> str | None:
    """The first setting a resumed run changed that the checkpoint's state depends on, as one phrase; None if none.

    Changed optimizer values are refused rather than applied: the checkpoint's optimizer state (step
    counts, moments, scheduled learning rates) belongs to the old values, and mixing them is no clean resume.
    """
    if not isinstance(saved, dict):
        return "it records no config"
    for key in _RESUME_MUST_MATCH:
        section, _, name = key.partition(".")
        old, new = saved.get(section) or {}, current.get(section) or {}
        if name:
            old, new = {name: old.get(name)} if isinstance(old, dict) else {}, {name: new.get(name)}
        if not isinstance(old, dict):
            return f"its {section} config is not a mapping"
        for k in sorted(set(old) & set(new)):  # a key only one side has: an option older code lacked
            if old[k] != new[k]:
                return (f"{section}.{k} was {old[k]!r} when it was written, this run has {new[k]!r}; "
                        "resume with the same value (or start a new run dir)")
    return None


def data_spec_record(spec: Any) -> dict[str, Any]:
    """A DataSpec as the plain dict a checkpoint keeps (name, shape, num_classes, is_image)."""
    return {"name": spec.name, "shape": list(spec.shape), "num_classes": spec.num_classes, "is_image": bool(spec.is_image)}


def spec_difference(saved: Any, current: dict[str, Any]) -> str | None:
    """The first data fact (shape = channels and size, classes) a checkpoint's recorded spec and this run's differ in."""
    if not isinstance(saved, dict):
        return None  # written before checkpoints recorded it
    for key, what in (("shape", "sample shape (channels, height, width)"), ("num_classes", "number of classes"),
                      ("is_image", "data kind")):
        old = list(saved[key]) if key == "shape" and isinstance(saved.get(key), (list, tuple)) else saved.get(key)
        if key in saved and old != current[key]:
            return f"the data's {what} was {old!r} when it was written, this run's is {current[key]!r}"
    return None


def remove_temp_files(run_dir: Path) -> None:
    """Remove temp files a killed writer left in the run's checkpoints/ (call with the run dir's lock held)."""
    ckpt_dir = Path(run_dir) / CKPT_DIR
    if ckpt_dir.is_dir():
        for p in list(ckpt_dir.glob(".*.tmp")) + list(ckpt_dir.glob(".*.link")):
            p.unlink(missing_ok=True)


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


def load_newest_good(run_dir: Path, map_location: str | torch.device = "cpu",
                     reject: Callable[[dict[str, Any]], str | None] | None = None) -> tuple[dict[str, Any], Path, list[str]] | None:
    """The newest checkpoint of a run that loads (and that `reject` finds no fault with), its path, and one line per newer one that did not."""
    problems: list[str] = []
    for path in checkpoint_candidates(run_dir):
        try:
            ckpt = load_checkpoint(path, map_location)
        except UserError as e:
            problems.append(str(e))
            continue
        fault = reject(ckpt) if reject is not None else None
        if fault is None:
            return ckpt, path, problems
        problems.append(f"checkpoint {path}: {fault}")
    return None
