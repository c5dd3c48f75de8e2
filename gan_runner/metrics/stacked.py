"""Stacked MNIST mode metrics (VEEGAN / PacGAN Table 2 protocol) and the per-channel digit feature space.

Protocol (Srivastava et al. 2017; Lin et al. 2018): classify each of the three channels of 26,000
generated samples with a digit classifier trained on the source digits, read each sample's triple
as one of the 1,000 modes, and report the number of modes hit at least once and KL(generated mode
histogram || uniform over 1,000), in nats. gan-eval's --num sets the number of samples: use
--num 26000 to compare with the papers. A perfect generator scores 1,000 modes and a KL of about
999 / (2 * 26,000) = 0.02 (sampling noise alone); a generator stuck on one triple scores 1 and log 1000 = 6.91.

The same per-channel classifier is this dataset's feature space for FID/KID/IS/PR: a classifier
trained on stacked_mnist's own 1,000 labels (~50 images per class) would judge digits worse than one
trained on the source digits, and the source classifier's held-out accuracy is a number users know
(MNIST digits). Features are the three channels' 128-d features side by side (384-d); class
posteriors are the product of the channels' digit posteriors, over the 1,000 triples.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from gan_runner.data import build_dataset
from gan_runner.data.stacked import NAME as STACKED
from gan_runner.data.stacked import NUM_CHANNELS, NUM_MODES, source_config
from gan_runner.errors import UserError
from gan_runner.metrics.classifier import FEATURE_DIM, load_or_train
from gan_runner.metrics.context import EvalContext
from gan_runner.metrics.modes import kl_to_uniform
from gan_runner.metrics.registry import register_metric
from gan_runner.metrics.space import FeatureSpace
from gan_runner.progress import ProgressFn, no_progress

PROTOCOL_SAMPLES = 26_000


class ChannelwiseDigitNet(nn.Module):
    """A single-channel digit classifier applied to each channel: (B, 3, H, W) -> features (B, 3D), logits (B, 1000)."""

    def __init__(self, digit_net: nn.Module) -> None:
        super().__init__()
        self.digit_net = digit_net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of the three channels side by side, and log-probabilities of the 1,000 digit triples."""
        b, c, h, w = x.shape
        assert c == NUM_CHANNELS, f"expected {NUM_CHANNELS} stacked channels, got {c}"
        f, logits = self.digit_net(x.reshape(b * c, 1, h, w))  # (3B, D), (3B, 10)
        logp = F.log_softmax(logits.float(), dim=1).view(b, c, 10)
        # log p(a, b, c) = log p_R(a) + log p_G(b) + log p_B(c), flattened so index 100a + 10b + c is the mode id.
        joint = logp[:, 0, :, None, None] + logp[:, 1, None, :, None] + logp[:, 2, None, None, :]  # (B, 10, 10, 10)
        return f.reshape(b, -1), joint.reshape(b, NUM_MODES)


def stacked_space(dataset_cfg: Mapping[str, Any], cache_dir: Path, *, device: torch.device | str = "cpu",
                  progress: ProgressFn = no_progress) -> FeatureSpace:
    """The source digit set's cached classifier, applied per channel (trained on first use, shared with its own runs)."""
    source = source_config(dataset_cfg)
    digit_space = load_or_train(build_dataset(source), source, cache_dir, device=device, progress=progress)
    assert digit_space.net is not None
    info = {**digit_space.info, "kind": "digit classifier per channel", "source": source["name"],
            "feature_dim": NUM_CHANNELS * FEATURE_DIM,
            "tag": f"{source['name']}-clf-per-channel"}
    net = ChannelwiseDigitNet(digit_space.net).to(digit_space.device).eval()
    return FeatureSpace(f"classifier({source['name']}) per channel", net, digit_space.device, info)


def stacked_mode_stats(modes: torch.Tensor) -> dict[str, float]:
    """Modes hit at least once and KL(histogram || uniform) of predicted mode ids (N,) in 0..999."""
    counts = torch.bincount(modes.long().cpu(), minlength=NUM_MODES)  # (1000,)
    assert len(counts) == NUM_MODES, f"mode ids must be < {NUM_MODES}"
    return {"stacked_modes": float((counts > 0).sum()), "stacked_kl": kl_to_uniform(counts)}


@register_metric("stacked_modes", reports=("stacked_modes", "stacked_kl", "stacked_digit_acc"), higher=("stacked_modes",),
                 needs_images=True, needs_labels=True, datasets=(STACKED,), dataset_hint=f"dataset={STACKED} (three stacked digits)",
                 reads=("class_logits",))
def stacked_modes(ctx: EvalContext) -> dict[str, float]:
    """Digit triples (of 1,000) covered by the generated samples and the KL of their histogram to uniform."""
    if not ctx.real.spec.stacked_digits:
        raise UserError(f"metric 'stacked_modes' needs dataset={STACKED}; the run's dataset is '{ctx.real.spec.name}'")
    modes = ctx.fake_class_logits().argmax(1)  # (N,) = 100 d_R + 10 d_G + d_B
    stats = stacked_mode_stats(modes)
    info = ctx.classifier().info
    stats["stacked_digit_acc"] = float(info.get("heldout_accuracy", float("nan")))
    note = (f"{len(modes)} samples, each channel classified by the {info.get('source', 'source')} digit classifier "
            f"(held-out accuracy {100 * stats['stacked_digit_acc']:.1f}%); covered = >= 1 sample; KL to uniform in nats")
    if len(modes) != PROTOCOL_SAMPLES:
        note += f" (the PacGAN/VEEGAN protocol uses {PROTOCOL_SAMPLES}: --num {PROTOCOL_SAMPLES})"
    ctx.notes["stacked_modes"] = note
    return stats
