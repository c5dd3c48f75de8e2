"""A feature space: turns real or generated data into features (and class logits where there is a classifier).

Every metric that compares distributions (FID, KID, PR, DC) or reads class posteriors (IS) goes through
one of these; which network sits behind it (the dataset's classifier, a label-free net, Inception,
none for 2D points) is chosen in features.py.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan_runner.progress import ProgressFn, no_progress

EMBED_BATCH = 500


def cache_root() -> Path:
    """$GAN_RUNNER_CACHE, else ~/.cache/gan_runner."""
    root = os.environ.get("GAN_RUNNER_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "gan_runner"


def default_cache_dir() -> Path:
    """$GAN_RUNNER_CACHE/features, else ~/.cache/gan_runner/features: the cached feature networks."""
    return cache_root() / "features"


def default_stats_dir() -> Path:
    """$GAN_RUNNER_CACHE/stats: the real side's cached statistics per (dataset, feature net, count)."""
    return cache_root() / "stats"


def to_model_space(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [-1, 1], as the GAN saw its data (InMemoryData.normalize)."""
    return x.float().mul(2.0 / 255.0).sub(1.0)


@dataclass
class FeatureSpace:
    """Turns generated or real data into (features (N, D) float64, logits (N, K) or None) on the CPU."""

    name: str
    net: nn.Module | None  # None: the data are their own features (2D points)
    device: torch.device
    info: dict[str, Any] = field(default_factory=dict)
    has_classifier: bool = True

    @property
    def tag(self) -> str:
        """Short name of the space for result keys and tables: 'inception', 'mnist_5k-clf', 'points', ..."""
        return str(self.info.get("tag", self.name))

    @torch.no_grad()
    def embed_batch(self, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Features (B, D) and logits (B, K) or None of one batch, on the CPU, in the network's dtype (float32)."""
        if self.net is None:
            return xb.flatten(1), None
        self.net.eval()
        xb = xb.to(self.device)
        # a library network that does its own preprocessing (the FID Inception) gets the uint8 images as they are
        f, lg = self.net(xb if getattr(self.net, "takes_uint8", False) else to_model_space(xb))
        return f.cpu(), None if lg is None else lg.cpu()  # a net without a classifier head returns no logits

    @torch.no_grad()
    def embed(self, x: torch.Tensor, progress: ProgressFn = no_progress, label: str = "features") -> tuple[torch.Tensor, torch.Tensor | None]:
        """Features (and class logits where there is a classifier) of uint8 images or float points, float64, in memory."""
        feats, logits = [], []
        for i in range(0, len(x), EMBED_BATCH):
            f, lg = self.embed_batch(x[i : i + EMBED_BATCH])
            feats.append(f.double())
            logits.append(None if lg is None else lg.double())
            progress(label, min(i + EMBED_BATCH, len(x)), len(x))
        return torch.cat(feats), None if logits[0] is None else torch.cat(logits)  # type: ignore[arg-type]

    def fingerprint(self) -> str:
        """A digest of the network's weights (and the space's tag): statistics cached under it are of exactly this net."""
        if "fingerprint" not in self.info:
            h = hashlib.sha256(self.tag.encode())
            if self.net is not None:
                for k, v in sorted(self.net.state_dict().items()):
                    h.update(k.encode())
                    h.update(v.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
            self.info["fingerprint"] = h.hexdigest()[:20]
        return str(self.info["fingerprint"])
