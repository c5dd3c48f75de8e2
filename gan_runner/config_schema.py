"""Schemas of the run config's own sections (trainer, stabilize, eval, the optimizer's common keys): types and ranges.

One mechanism instead of hand-written isinstance ladders: each section is a dataclass; OmegaConf checks
unknown keys and types (`OmegaConf.structured` + merge), and each field's metadata states its range as
the one-line message a user sees ("trainer.max_steps must be an integer >= 1, got 0"). Builder options
(model, loss, optimizer algorithm, dataset) are checked against the builders' signatures by the registry.

Defaults live in one place, the packaged YAML (conf/trainer/default.yaml for `trainer`, conf/config.yaml's own
sections for the others): the schemas carry none (every field is MISSING), and `validate` fills keys a caller
left out from that YAML, so Python callers get exactly what gan-run composes. tests/test_config_schema.py checks it.
"""
from __future__ import annotations

import difflib
import functools
import importlib.resources
import math
import typing
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping, Optional, TypeVar

from omegaconf import MISSING, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, ValidationError

from gan_runner.errors import ConfigError
from gan_runner.registry import matches_hint

T = TypeVar("T")


def option(must: str, ok: Callable[[Any], bool] = lambda v: True) -> Any:
    """A schema field: what a valid value is (for the error line) and the range check; its default is in the YAML."""
    return field(default=MISSING, metadata={"must": must, "ok": ok})


# Where each section's defaults are written (files of the packaged conf/, and the key inside them, if any).
DEFAULTS_FROM = {"trainer": ("trainer/default.yaml", None), "stabilize": ("config.yaml", "stabilize"),
                 "eval": ("config.yaml", "eval"), "optimizer": ("config.yaml", "optimizer")}


@functools.lru_cache(maxsize=None)
def _yaml_defaults(section: str) -> dict[str, Any]:
    path, key = DEFAULTS_FROM[section]
    text = (importlib.resources.files("gan_runner.conf") / path).read_text()
    node = OmegaConf.to_container(OmegaConf.create(text))
    assert isinstance(node, dict)
    return dict(node.get(key) or {}) if key else {k: v for k, v in node.items() if k != "defaults"}


def yaml_defaults(section: str) -> dict[str, Any]:
    """The packaged YAML's defaults of a run-config section (a copy)."""
    return dict(_yaml_defaults(section))


def _positive_int(v: int) -> bool:
    return v >= 1


@dataclass
class TrainerConfig:
    """conf/trainer/*.yaml: the training loop's options."""

    max_steps: int = option("an integer >= 1", _positive_int)
    max_time: Optional[float] = option("seconds > 0 or null", lambda v: v is None or v > 0)
    n_critic: int = option("an integer >= 1", _positive_int)
    device: str = option("auto, cpu or cuda[:N]")  # checked with the hardware by devices.resolve_device
    log_every: int = option("an integer >= 1", _positive_int)
    sample_every: int = option("an integer >= 1", _positive_int)
    eval_every: int = option("an integer >= 0 (0 = off)", lambda v: v >= 0)
    ckpt_every: int = option("an integer >= 1", _positive_int)
    grid_size: int = option("an integer >= 1", _positive_int)
    ema: float = option("a decay in [0, 1) (0 = off)", lambda v: 0 <= v < 1)
    resume: Any = option("a run dir, a checkpoint file, auto or null")
    on_divergence: str = option("stop or rollback", lambda v: v in ("stop", "rollback"))
    max_grad_norm: Optional[float] = option("> 0 or null (off)", lambda v: v is None or v > 0)
    max_rollbacks: int = option("an integer >= 0", lambda v: v >= 0)
    rollback_lr_factor: float = option("in (0, 1]", lambda v: 0 < v <= 1)
    precision: str = option("fp32, bf16 or auto", lambda v: v in ("fp32", "bf16", "auto"))
    channels_last: bool = option("true or false")
    compile: bool = option("true or false")  # torch.compile G and D (training/compiled.py)
    deterministic: bool = option("true or false")
    quiet: bool = option("true or false")


@dataclass
class StabilizeConfig:
    """The run config's `stabilize` section: stabilizers that act on any model and loss (conf/config.yaml)."""

    diffaugment: Any = option("a list of DiffAugment ops or null")  # checked by DiffAugment itself
    instance_noise: float = option("a number >= 0", lambda v: v >= 0)
    instance_noise_steps: Optional[int] = option("an integer >= 1 or null", lambda v: v is None or v >= 1)
    r1: float = option("a number >= 0", lambda v: v >= 0)
    r2: float = option("a number >= 0", lambda v: v >= 0)
    reg_every: int = option("an integer >= 1", _positive_int)
    unroll: int = option("an integer >= 0", lambda v: v >= 0)
    feature_matching: float = option("a weight >= 0 (0 = off)", lambda v: 0 <= v < math.inf)
    feature_layer: str = option("auto or a module name of D")  # checked against D by stabilizers/feature_matching


@dataclass
class OptimizerConfig:
    """The keys every conf/optimizer/*.yaml shares; the rest are the algorithm's options (registry-checked)."""

    name: str = option("an optimizer name (conf/optimizer/)")  # in conf/optimizer/NAME.yaml
    lr_g: float = option("a number > 0", lambda v: 0 < v < math.inf)
    lr_d: float = option("a number > 0", lambda v: 0 < v < math.inf)
    schedule: str = option("constant, linear, cosine, step or exponential",
                           lambda v: v in ("constant", "linear", "cosine", "step", "exponential"))
    warmup_steps: int = option("an integer >= 0", lambda v: v >= 0)
    step_size: int = option("an integer >= 1 (G steps between decays of schedule=step)", _positive_int)
    gamma: float = option("a factor in (0, 1] (schedule=step: per step_size; exponential: per G step)",
                          lambda v: 0 < v <= 1)
    # Gradient-norm clipping (Pascanu et al. 2013), G and D apart: the total L2 norm of a phase's gradients is
    # scaled down to this value before the optimizer step (torch.nn.utils.clip_grad_norm_); null = off
    clip_grad_norm_g: Optional[float] = option("a norm > 0 or null (off)", lambda v: v is None or 0 < v < math.inf)
    clip_grad_norm_d: Optional[float] = option("a norm > 0 or null (off)", lambda v: v is None or 0 < v < math.inf)


@dataclass
class EvalConfig:
    """The run config's `eval` section: the final evaluation and the periodic one (trainer.eval_every)."""

    metrics: list = option("a list of metric names, e.g. [fid, kid]")  # names checked against the metric records
    num: int = option("an integer >= 2", lambda v: v >= 2)
    periodic: Any = option("auto or a list of metric names")
    periodic_num: int = option("an integer >= 2", lambda v: v >= 2)
    best: Optional[str] = option("auto, none or a reported value")  # checked against the periodic metrics' values
    features: str = option("a feature space (auto, classifier, label-free, inception, ...)")
    inception_weights: Optional[str] = option("a weights file or null")
    inception: Optional[str] = option("a torchvision inception_v3 weights file or null")


def keys_of(schema: type) -> list[str]:
    """The option names a schema knows, in declaration order."""
    return [f.name for f in fields(schema)]


def _short(value: Any) -> str:
    """repr(value), cut to one readable line (a 5,000-character key or value must not flood the terminal)."""
    text = repr(value)
    return text if len(text) <= 43 else text[:40] + "..."


def validate(section: str, schema: type[T], values: Mapping[str, Any] | None) -> T:
    """The section's values as a `schema` instance; one ConfigError line for an unknown key, a wrong type or range."""
    values = {**yaml_defaults(section), **dict(values or {})} if section in DEFAULTS_FROM else dict(values or {})
    known = keys_of(schema)
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{section} has no option '{key}' (options: {', '.join(sorted(known))}){hint}")
    meta = {f.name: f.metadata for f in fields(schema)}
    hints = typing.get_type_hints(schema)
    for key, value in values.items():
        if not matches_hint(value, hints[key]):  # OmegaConf would turn "1e-4" or 1 into a float or a bool: a YAML typo
            raise ConfigError(f"{section}.{key} must be {meta[key]['must']}, got {_short(value)}")
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
