"""A metric from outside: the gap between the mean pixel of generated and real images (0 is ideal)."""
from __future__ import annotations

from gan_runner import register_metric
from gan_runner.metrics.context import EvalContext


@register_metric("pixel_mean_gap", reports=("pixel_mean_gap",), needs_images=True, reads=("samples",))
def pixel_mean_gap(ctx: EvalContext) -> dict[str, float]:
    """|mean pixel of the samples - mean pixel of the real images|, in [0, 1] (both sets are uint8 images here)."""
    fake = ctx.fake.x.double().mean() / 255.0
    real = ctx.real.x[: max(1, len(ctx.fake.x))].double().mean() / 255.0
    return {"pixel_mean_gap": float((fake - real).abs())}
