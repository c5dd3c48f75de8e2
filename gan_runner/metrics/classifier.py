"""The offline feature network: a small classifier trained on the run's own labeled dataset, cached on disk.

No Inception weights can be downloaded here, so by default the features come from a small conv
classifier trained on the run's own labeled dataset: its penultimate layer gives the features
(FID/KID/precision-recall/density-coverage), its softmax the class posteriors (IS, class accuracy).
It is trained once per dataset config on a split and cached on disk with its held-out accuracy, so
every later evaluation of any run on that dataset uses the same, reported, network.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from gan_runner.atomic import save_atomic
from gan_runner.data.base import InMemoryData
from gan_runner.errors import UserError
from gan_runner.metrics.space import EMBED_BATCH, FeatureSpace, to_model_space
from gan_runner.progress import ProgressFn, no_progress

FEATURE_NET_VERSION = 1  # bump when the architecture or recipe changes: old cache entries stop matching
FEATURE_DIM = 128
TRAIN_IMAGES = 40_000  # images seen in training: ~9 epochs of mnist_5k, capped at MAX_EPOCHS for small sets
MAX_EPOCHS = 20


class FeatureNet(nn.Module):
    """Small conv classifier: three conv-BN-ReLU blocks, pooled to 4x4, FC to 128 features, FC to classes."""

    def __init__(self, channels: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1), nn.BatchNorm2d(width), nn.ReLU(True),
            nn.Conv2d(width, 2 * width, 3, 2, 1), nn.BatchNorm2d(2 * width), nn.ReLU(True),
            nn.Conv2d(2 * width, 2 * width, 3, 2, 1), nn.BatchNorm2d(2 * width), nn.ReLU(True),
            nn.AdaptiveAvgPool2d(4),  # any input size (8x8 digits ... 64x64) -> (B, 2w, 4, 4)
            nn.Flatten(),
            nn.Linear(2 * width * 16, FEATURE_DIM), nn.ReLU(True),  # penultimate layer = the features
        )
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) in [-1, 1] -> features (B, 128), logits (B, K)."""
        f = self.body(x)
        return f, self.head(f)


def cache_key(dataset_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A feature net's identity: the dataset config (not batching, placement, flips, workers), paths resolved, version."""
    cfg = {k: v for k, v in dataset_cfg.items() if k not in ("batch_size", "placement", "xflip", "workers")}
    if isinstance(cfg.get("root"), str):
        cfg["root"] = str(Path(cfg["root"]).expanduser().resolve())  # "data" means different dirs from different cwds
    return {"dataset": cfg, "version": FEATURE_NET_VERSION, "feature_dim": FEATURE_DIM}


def cache_path(cache_dir: Path, dataset_cfg: Mapping[str, Any]) -> Path:
    """The cache file for a dataset config: NAME_HASH.pt."""
    key = json.dumps(cache_key(dataset_cfg), sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir / f"{dataset_cfg.get('name', 'dataset')}_{digest}.pt"


def heldout_split(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out) indices: 10% held out, at least 200 and at most half."""
    n_hold = min(max(n // 10, 200), n // 2)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_hold:], perm[:n_hold]


def train_feature_net(data: InMemoryData, *, device: torch.device | str = "cpu", seed: int = 0,
                      progress: ProgressFn = no_progress) -> tuple[FeatureNet, float]:
    """Train the classifier on 90% of a labeled image dataset; returns it with its accuracy on the other 10%."""
    assert data.y is not None and data.spec.num_classes and data.spec.is_image
    device = torch.device(device)
    train_idx, hold_idx = heldout_split(len(data), seed)
    with torch.random.fork_rng(devices=[]):  # seeded init without disturbing the caller's RNG stream
        torch.manual_seed(seed)
        net = FeatureNet(data.spec.channels, data.spec.num_classes).to(device)
    epochs = min(MAX_EPOCHS, max(1, math.ceil(TRAIN_IMAGES / len(train_idx))))
    batch = 128
    steps_per_epoch = max(1, len(train_idx) // batch)
    total = epochs * steps_per_epoch
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=total)
    gen = torch.Generator().manual_seed(seed + 1)
    x_all, y_all = data.x, data.y
    shift = max(1, round(data.spec.image_size / 16))
    net.train()
    step = 0
    for _ in range(epochs):
        perm = train_idx[torch.randperm(len(train_idx), generator=gen)]
        for s in range(steps_per_epoch):
            idx = perm[s * batch : (s + 1) * batch]
            xb = to_model_space(x_all[idx].to(device))
            # Random shifts (2 px at 32x32): a classifier robust to small misplacements judges GAN samples more fairly.
            xb = torch.roll(xb, shifts=tuple(torch.randint(-shift, shift + 1, (2,), generator=gen).tolist()), dims=(2, 3))
            loss = F.cross_entropy(net(xb)[1], y_all[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            progress("training feature net", step, total)
    net.eval()
    with torch.no_grad():
        correct = 0
        for i in range(0, len(hold_idx), EMBED_BATCH):
            idx = hold_idx[i : i + EMBED_BATCH]
            pred = net(to_model_space(x_all[idx].to(device)))[1].argmax(1).cpu()
            correct += int((pred == y_all[idx]).sum())
    return net, correct / len(hold_idx)


def load_or_train(data: InMemoryData, dataset_cfg: Mapping[str, Any], cache_dir: Path, *,
                  device: torch.device | str = "cpu", progress: ProgressFn = no_progress) -> FeatureSpace:
    """The cached feature net for this dataset config, training (and caching) it on first use."""
    if data.y is None or not data.spec.num_classes or not data.spec.is_image:
        raise UserError(
            f"dataset '{data.spec.name}' has no class labels to train a feature network on; "
            "give --inception PATH (local torchvision inception_v3 weights) or evaluate only parzen"
        )
    device = torch.device(device)
    path = cache_path(Path(cache_dir), dataset_cfg)
    net, acc, trained = cached_net(path, FeatureNet(data.spec.channels, data.spec.num_classes), data.spec.shape,
                                   json.dumps(cache_key(dataset_cfg), sort_keys=True, default=str),
                                   lambda: train_feature_net(data, device=device, progress=progress))
    train_idx, hold_idx = heldout_split(len(data))
    info = {"kind": "classifier", "heldout_accuracy": acc, "train_size": len(train_idx), "heldout_size": len(hold_idx),
            "cache": str(path), "trained_now": trained, "feature_dim": FEATURE_DIM,
            "tag": f"{data.spec.name}-clf"}
    return FeatureSpace(f"classifier({data.spec.name})", net.to(device).eval(), device, info)


def cached_net(path: Path, net: nn.Module, in_shape: tuple[int, ...], key: str,
               train: Callable[[], tuple[nn.Module, float]]) -> tuple[nn.Module, float, bool]:
    """(net, held-out accuracy, trained now): the cached weights at `path` when they fit, else `train()` and cache it."""
    entry = read_cache(path)
    if entry is not None and entry.get("in_shape") == list(in_shape):
        net.load_state_dict(entry["state_dict"])
        return net, float(entry["heldout_accuracy"]), False
    net, acc = train()
    save_atomic({"format": 1, "state_dict": {k: v.cpu() for k, v in net.state_dict().items()},
                 "heldout_accuracy": acc, "in_shape": list(in_shape), "key": key}, path)
    return net, acc, True


def read_cache(path: Path) -> dict[str, Any] | None:
    """A cache entry, or None when absent or unreadable (then it is retrained and overwritten)."""
    if not path.is_file():
        return None
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable cache file just means: train again
        return None
    return entry if isinstance(entry, dict) and entry.get("format") == 1 else None
