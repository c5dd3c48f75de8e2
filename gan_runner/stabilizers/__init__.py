"""Stabilizers against non-convergence and mode collapse, switched on by the run config's `stabilize` section.

Model-side switches (spectral norm, PacGAN packing, minibatch std) are model options; loss-side
ones (one-sided label smoothing) are loss options; the ones here act on any model and loss:
D-input transforms (DiffAugment, instance noise), zero-centred gradient penalties (R1/R2, lazy),
unrolled D steps for G's update, and feature matching added to G's objective.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from gan_runner.config_schema import StabilizeConfig, validate
from gan_runner.data.base import DataSpec
from gan_runner.errors import ConfigError
from gan_runner.stabilizers.diffaugment import DiffAugment
from gan_runner.stabilizers.feature_matching import FeatureMatching
from gan_runner.stabilizers.instance_noise import InstanceNoise
from gan_runner.stabilizers.penalties import ZeroCenteredPenalty


@dataclass(frozen=True)
class Stabilizers:
    """What `stabilize` asks for, built: D-input transforms, D penalties, unrolled steps for G."""

    d_transforms: tuple[Any, ...]
    penalties: tuple[ZeroCenteredPenalty, ...]
    unroll: int
    g_wrappers: tuple[FeatureMatching, ...] = ()  # (G's objective, model) -> G's objective with an extra term


def build_stabilizers(section: Mapping[str, Any] | None, spec: DataSpec, max_steps: int) -> Stabilizers:
    """Validate the `stabilize` section (its schema: config_schema.StabilizeConfig) and build its pieces."""
    cfg = validate("stabilize", StabilizeConfig, section)
    transforms: list[Any] = []
    if cfg.diffaugment:
        if not spec.is_image:
            raise ConfigError(f"stabilize.diffaugment needs images; dataset '{spec.name}' is {spec.shape[0]}-D points")
        transforms.append(DiffAugment(cfg.diffaugment))  # "color,cutout" or [color, cutout]
    if cfg.instance_noise > 0:
        steps = max_steps if cfg.instance_noise_steps is None else cfg.instance_noise_steps
        transforms.append(InstanceNoise(float(cfg.instance_noise), steps))
    penalties = [ZeroCenteredPenalty(float(gamma), cfg.reg_every, on)
                 for gamma, on in ((cfg.r1, "real"), (cfg.r2, "fake")) if gamma > 0]
    wrappers = (FeatureMatching(float(cfg.feature_matching), cfg.feature_layer),) if cfg.feature_matching > 0 else ()
    return Stabilizers(tuple(transforms), tuple(penalties), cfg.unroll, wrappers)
