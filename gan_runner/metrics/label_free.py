"""A label-free offline feature network: rotation prediction (Gidaris et al. 2018) on the run's own images.

For unlabeled image data (an image_folder of faces or art) with no Inception weights at hand: the same
small conv net as the classifier (classifier.FeatureNet) learns to tell which of 0/90/180/270 degrees
an image was rotated by, which needs no labels and makes it learn shapes and strokes; its 128-d
penultimate layer is the feature space for FID/KID/PR/DC. Rotation prediction was chosen over
contrastive learning because it trains with the classifier's recipe at the same cost (no pairs, no
large batches, no augmentation pipeline to tune), which matters on 2 CPU cores. It is cached like
the classifier, with its held-out rotation accuracy. Its logits are rotations, not classes: no IS.
Validated against the labeled classifier's FID on mnist_5k in docs/EVALUATION.md.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from gan_runner.data.base import InMemoryData
from gan_runner.errors import UserError
from gan_runner.metrics.classifier import FEATURE_DIM, MAX_EPOCHS, TRAIN_IMAGES, FeatureNet, cache_path, cached_net, heldout_split
from gan_runner.metrics.space import EMBED_BATCH, FeatureSpace, to_model_space
from gan_runner.progress import ProgressFn, no_progress

ROTATIONS = 4
LABEL_FREE_VERSION = 1  # bump when the recipe changes: old cache entries stop matching


def rotate_batch(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, H) -> the 4 rotations of each image (4B, C, H, H) and their rotation ids (4B,)."""
    xs = [torch.rot90(x, k, dims=(2, 3)) for k in range(ROTATIONS)]
    ids = torch.arange(ROTATIONS).repeat_interleave(len(x))
    return torch.cat(xs), ids


def train_rotation_net(data: InMemoryData, *, device: torch.device | str = "cpu", seed: int = 0,
                       progress: ProgressFn = no_progress) -> tuple[FeatureNet, float]:
    """Train FeatureNet to predict rotations on 90% of the images; returns it with its rotation accuracy on the rest."""
    device = torch.device(device)
    train_idx, hold_idx = heldout_split(len(data), seed)
    with torch.random.fork_rng(devices=[]):  # seeded init without disturbing the caller's RNG stream
        torch.manual_seed(seed)
        net = FeatureNet(data.spec.channels, ROTATIONS).to(device)
    batch = 32  # x4 rotations = 128 images per step, the classifier's batch
    epochs = min(MAX_EPOCHS, max(1, math.ceil(TRAIN_IMAGES / (ROTATIONS * len(train_idx)))))
    steps_per_epoch = max(1, len(train_idx) // batch)
    total = epochs * steps_per_epoch
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=total)
    gen = torch.Generator().manual_seed(seed + 1)
    net.train()
    step = 0
    for _ in range(epochs):
        perm = train_idx[torch.randperm(len(train_idx), generator=gen)]
        for s in range(steps_per_epoch):
            xb, ids = rotate_batch(to_model_space(data.x[perm[s * batch : (s + 1) * batch]].to(device)))
            loss = F.cross_entropy(net(xb)[1], ids.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            progress("training label-free feature net", step, total)
    net.eval()
    correct = seen = 0
    with torch.no_grad():
        for i in range(0, len(hold_idx), EMBED_BATCH):
            xb, ids = rotate_batch(to_model_space(data.x[hold_idx[i : i + EMBED_BATCH]].to(device)))
            correct += int((net(xb)[1].argmax(1).cpu() == ids).sum())
            seen += len(ids)
    return net, correct / seen


def label_free_space(data: InMemoryData, dataset_cfg: Mapping[str, Any], cache_dir: Path, *,
                     device: torch.device | str = "cpu", progress: ProgressFn = no_progress) -> FeatureSpace:
    """The cached rotation-prediction net for this dataset config, trained (and cached) on first use."""
    if not data.spec.is_image or data.spec.shape[1] != data.spec.shape[2]:
        raise UserError(f"the label-free feature net needs square images; dataset '{data.spec.name}' has shape "
                        f"{tuple(data.spec.shape)}")
    device = torch.device(device)
    key_cfg = {**dataset_cfg, "_features": f"rotation-v{LABEL_FREE_VERSION}"}  # its own cache entry beside the classifier
    path = cache_path(Path(cache_dir), key_cfg)
    net, acc, trained = cached_net(path, FeatureNet(data.spec.channels, ROTATIONS), data.spec.shape,
                                   json.dumps(key_cfg, sort_keys=True, default=str),
                                   lambda: train_rotation_net(data, device=device, progress=progress))
    train_idx, hold_idx = heldout_split(len(data))
    info = {"kind": "label-free (rotation prediction)", "heldout_accuracy": acc, "heldout_task": "rotation",
            "train_size": len(train_idx), "heldout_size": len(hold_idx), "cache": str(path), "trained_now": trained,
            "feature_dim": FEATURE_DIM, "tag": f"{data.spec.name}-rot"}
    return FeatureSpace(f"rotation-net({data.spec.name})", net.to(device).eval(), device, info, has_classifier=False)
