"""The metric registry: `@METRICS.register("fid")` on a function `(ctx: EvalContext, *, options) -> {name: value}`.

Kept beside the metrics (not in gan_runner/registry.py) so the training side never imports them.
"""
from __future__ import annotations

from gan_runner.registry import Registry

METRICS = Registry("metric")
