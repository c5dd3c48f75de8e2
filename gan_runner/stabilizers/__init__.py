"""Stabilizers against non-convergence and mode collapse, switched on by the run config's `stabilize` section.

Model-side switches (spectral norm, PacGAN packing, minibatch std) are model options; loss-side
ones (one-sided label smoothing) are loss options; the ones here act on any model and loss:
D-input transforms (DiffAugment, instance noise), zero-centred gradient penalties (R1/R2, lazy),
and unrolled D steps for G's update.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from gan_runner.data.base import DataSpec
from gan_runner.errors import ConfigError
from gan_runner.stabilizers.diffaugment import DiffAugment
from gan_runner.stabilizers.instance_noise import InstanceNoise
from gan_runner.stabilizers.penalties import ZeroCenteredPenalty

DEFAULTS: dict[str, Any] = {"diffaugment": None, "instance_noise": 0.0, "instance_noise_steps": None,
                            "r1": 0.0, "r2": 0.0, "reg_every": 1, "unroll": 0}


@dataclass
class Stabilizers:
    """What `stabilize` asks for, built: D-input transforms, D penalties, unrolled steps for G."""

    d_transforms: tuple[Any, ...]
    penalties: tuple[ZeroCenteredPenalty, ...]
    unroll: int


def _number(cfg: Mapping[str, Any], key: str, *, integer: bool = False, minimum: float = 0.0) -> Any:
    v = cfg[key]
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok or v < minimum:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"stabilize.{key} must be {kind} >= {minimum:g}, got {v!r}")
    return v


def build_stabilizers(section: Mapping[str, Any] | None, spec: DataSpec, max_steps: int) -> Stabilizers:
    """Validate the `stabilize` section (one clear line per bad value) and build its pieces."""
    cfg = dict(DEFAULTS)
    for key, value in (section or {}).items():
        if key not in DEFAULTS:
            raise ConfigError(f"stabilize has no option '{key}' (options: {', '.join(sorted(DEFAULTS))})")
        cfg[key] = value
    transforms: list[Any] = []
    if cfg["diffaugment"]:
        if not spec.is_image:
            raise ConfigError(f"stabilize.diffaugment needs images; dataset '{spec.name}' is {spec.shape[0]}-D points")
        transforms.append(DiffAugment(cfg["diffaugment"]))  # "color,cutout" or [color, cutout]
    sigma = _number(cfg, "instance_noise")
    if sigma > 0:
        steps = cfg["instance_noise_steps"]
        steps = max_steps if steps is None else _number(cfg, "instance_noise_steps", integer=True, minimum=1)
        transforms.append(InstanceNoise(float(sigma), steps))
    every = _number(cfg, "reg_every", integer=True, minimum=1)
    penalties = [ZeroCenteredPenalty(float(_number(cfg, key)), every, on)
                 for key, on in (("r1", "real"), ("r2", "fake")) if _number(cfg, key) > 0]
    return Stabilizers(tuple(transforms), tuple(penalties), _number(cfg, "unroll", integer=True))
