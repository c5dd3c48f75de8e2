"""Schemas of the run config's own sections (trainer, stabilize, the optimizer's common keys), as OmegaConf structured configs.

One mechanism instead of hand-written isinstance ladders: each section is a dataclass; OmegaConf checks
unknown keys and types (`OmegaConf.structured` + merge), and each field's metadata states its range as
the one-line message a user sees ("trainer.max_steps must be an integer >= 1, got 0"). Builder options
(model, loss, optimizer algorithm, dataset) are checked against the builders' signatures by the registry.
"""
from __future__ import annotations

import difflib
import math
import typing
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping, Optional, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, ValidationError

from gan_runner.errors import ConfigError

T = TypeVar("T")


def option(default: Any, must: str, ok: Callable[[Any], bool] = lambda v: True) -> Any:
    """A schema field: its default, what a valid value is (for the error line) and the range check."""
    return field(default=default, metadata={"must": must, "ok": ok})


def _positive_int(v: int) -> bool:
    return v >= 1


@dataclass
class TrainerConfig:
    """conf/trainer/*.yaml: the training loop's options."""

    max_steps: int = option(4000, "an integer >= 1", _positive_int)
    max_time: Optional[float] = option(None, "seconds > 0 or null", lambda v: v is None or v > 0)
    n_critic: int = option(1, "an integer >= 1", _positive_int)
    device: str = option("auto", "auto, cpu or cuda[:N]")  # checked with the hardware by devices.resolve_device
    log_every: int = option(50, "an integer >= 1", _positive_int)
    sample_every: int = option(500, "an integer >= 1", _positive_int)
    eval_every: int = option(0, "an integer >= 0 (0 = off)", lambda v: v >= 0)
    ckpt_every: int = option(1000, "an integer >= 1", _positive_int)
    grid_size: int = option(64, "an integer >= 1", _positive_int)
    ema: float = option(0.0, "a decay in [0, 1) (0 = off)", lambda v: 0 <= v < 1)
    resume: Any = option(None, "a run dir, a checkpoint file, auto or null")
    on_divergence: str = option("stop", "stop or rollback", lambda v: v in ("stop", "rollback"))
    max_grad_norm: Optional[float] = option(1e6, "> 0 or null (off)", lambda v: v is None or v > 0)
    max_rollbacks: int = option(3, "an integer >= 0", lambda v: v >= 0)
    rollback_lr_factor: float = option(0.5, "in (0, 1]", lambda v: 0 < v <= 1)
    precision: str = option("fp32", "fp32, bf16 or auto", lambda v: v in ("fp32", "bf16", "auto"))
    channels_last: bool = option(False, "true or false")
    compile: bool = option(False, "true or false")  # torch.compile G and D (training/compiled.py)
    deterministic: bool = option(False, "true or false")
    quiet: bool = option(False, "true or false")


@dataclass
class StabilizeConfig:
    """The run config's `stabilize` section: stabilizers that act on any model and loss (conf/config.yaml)."""

    diffaugment: Any = option(None, "a list of DiffAugment ops or null")  # checked by DiffAugment itself
    instance_noise: float = option(0.0, "a number >= 0", lambda v: v >= 0)
    instance_noise_steps: Optional[int] = option(None, "an integer >= 1 or null", lambda v: v is None or v >= 1)
    r1: float = option(0.0, "a number >= 0", lambda v: v >= 0)
    r2: float = option(0.0, "a number >= 0", lambda v: v >= 0)
    reg_every: int = option(1, "an integer >= 1", _positive_int)
    unroll: int = option(0, "an integer >= 0", lambda v: v >= 0)


@dataclass
class OptimizerConfig:
    """The keys every conf/optimizer/*.yaml shares; the rest are the algorithm's options (registry-checked)."""

    name: str = option("???", "an optimizer name (conf/optimizer/)")  # "???": required
    lr_g: float = option("???", "a number > 0", lambda v: 0 < v < math.inf)
    lr_d: float = option("???", "a number > 0", lambda v: 0 < v < math.inf)
    schedule: str = option("constant", "constant, linear or cosine", lambda v: v in ("constant", "linear", "cosine"))
    warmup_steps: int = option(0, "an integer >= 0", lambda v: v >= 0)


def _strictly(value: Any, hint: Any) -> bool:
    """Whether `value` already has the annotation's Python type (ints count as floats; bools as nothing else)."""
    if hint is Any:
        return True
    args = typing.get_args(hint)
    if type(None) in args:  # Optional[X]
        return value is None or _strictly(value, next(a for a in args if a is not type(None)))
    if hint is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if hint is int:
        return isinstance(value, int)
    if hint is float:
        return isinstance(value, (int, float))
    return isinstance(value, hint)


def keys_of(schema: type) -> list[str]:
    """The option names a schema knows, in declaration order."""
    return [f.name for f in fields(schema)]


def validate(section: str, schema: type[T], values: Mapping[str, Any] | None) -> T:
    """The section's values as a `schema` instance; one ConfigError line for an unknown key, a wrong type or range."""
    values = dict(values or {})
    known = keys_of(schema)
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{section} has no option '{key}' (options: {', '.join(sorted(known))}){hint}")
    meta = {f.name: f.metadata for f in fields(schema)}
    hints = typing.get_type_hints(schema)
    for key, value in values.items():
        if not _strictly(value, hints[key]):  # OmegaConf would turn "1e-4" or 1 into a float or a bool: a YAML typo
            raise ConfigError(f"{section}.{key} must be {meta[key]['must']}, got {repr(value)[:40]}")
        if isinstance(value, int) and not -(2**63) <= value < 2**63:  # torch and the loop count in int64
            raise ConfigError(f"{section}.{key} must be {meta[key]['must']} of at most 64 bits, got {str(value)[:30]}...")
    try:
        obj = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), values))
    except (ValidationError, ConfigKeyError, MissingMandatoryValue) as e:
        key = str(getattr(e, "key", "") or "")
        if key in meta:
            raise ConfigError(f"{section}.{key} must be {meta[key]['must']}, got {values.get(key)!r}") from None
        raise ConfigError(f"{section}: {str(e).splitlines()[0]}") from None
    for key, m in meta.items():
        if not m["ok"](getattr(obj, key)):
            raise ConfigError(f"{section}.{key} must be {m['must']}, got {values.get(key, getattr(obj, key))!r}")
    return obj
