"""The number a sweeper optimizes for a finished run: a dotted key of its metrics.json, or the direction's worst."""
from __future__ import annotations

import math
from typing import Any, Mapping


def objective_value(metrics: Mapping[str, Any], key: str | None, direction: str = "minimize") -> float | None:
    """metrics.json's dotted `key` (the first dot splits section and name), None when the sweep has no objective.

    A failed or diverged run returns the worst value for the sweeper's `direction` (+inf when minimizing, -inf when
    maximizing): Optuna 2.x accepts it, while the Hydra Optuna plugin crashes on NaN, and the sampler learns to avoid
    that region.
    """
    if not key:
        return None
    value = None
    if metrics.get("status") == "completed":
        section, _, name = key.partition(".")
        value = (metrics.get(section) or {}).get(name) if name else metrics.get(section)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return -math.inf if direction.startswith("max") else math.inf
