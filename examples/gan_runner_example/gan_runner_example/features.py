"""A feature net from outside: 4x4 average-pooled pixels, a crude but dataset-free space for FID/KID/PR."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from gan_runner import register_feature_net
from gan_runner.data.base import InMemoryData
from gan_runner.metrics.space import FeatureSpace


class PooledPixels(nn.Module):
    """(B, C, H, W) in [-1, 1] -> (B, C * 16) features: each channel averaged over a 4x4 grid of cells; no classifier."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return F.adaptive_avg_pool2d(x, 4).flatten(1), None


@register_feature_net("pooled_pixels")
def pooled_pixels(data: InMemoryData, dataset_cfg: Mapping[str, Any], cache_dir: Path, device: torch.device,
                  progress: Any) -> FeatureSpace:
    """The space `eval.features=pooled_pixels` / `gan-eval --features pooled_pixels` evaluates in."""
    return FeatureSpace("pooled_pixels", PooledPixels().to(device), device,
                        {"kind": "4x4 average-pooled pixels", "tag": "pooled"}, has_classifier=False)
