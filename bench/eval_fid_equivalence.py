"""gan-eval's FID Inception path against torch-fidelity's own pipeline, on the same images and weights file.

    python bench/eval_fid_equivalence.py [--num 200] [--weights FILE]

Without --weights, a randomly initialised FID Inception is saved in the real weights format (no
download needed); with the real weights file it checks the same on the real network. Images: mnist_5k
digits at 32x32 (real) against the same digits darkened (fake). Prints both FIDs, their relative
difference and the largest feature difference.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from unittest import mock

import torch
import torch_fidelity
import torch_fidelity.feature_extractor_inceptionv3 as fe

from gan_runner.data import build_dataset
from gan_runner.metrics.fid_inception import fid_inception_space
from gan_runner.metrics.fid_kid_is import fid_from_features


class Images(torch.utils.data.Dataset):
    """uint8 (N, 3, H, W) images as torch-fidelity reads a dataset."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


def random_weights(path: Path) -> Path:
    """Save a random FID Inception (BN statistics from one batch, so features do not vanish) in the real format."""
    torch.manual_seed(0)
    with mock.patch.object(fe, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None):
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.momentum = 1.0
    net.train()
    with torch.no_grad():
        net(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8))
    for m in bns:
        m.momentum = 0.1
    torch.save(net.state_dict(), path)
    return path


def main() -> None:
    """Print the comparison."""
    p = argparse.ArgumentParser()
    p.add_argument("--num", type=int, default=200)
    p.add_argument("--weights", type=Path)
    args = p.parse_args()
    weights = args.weights or random_weights(Path(tempfile.mkdtemp()) / fe.URL_INCEPTION_V3.rsplit("/", 1)[1])
    x = build_dataset({"name": "mnist_5k", "image_size": 32}).x
    real, fake = x[: args.num], (x[args.num : 2 * args.num].float() * 0.6).to(torch.uint8)
    t0 = time.perf_counter()
    space = fid_inception_space(weights)
    f_real, f_fake = space.embed(real)[0], space.embed(fake)[0]
    ours = fid_from_features(f_real, f_fake)
    t1 = time.perf_counter()
    rgb = lambda t: Images(t.expand(-1, 3, -1, -1).contiguous())  # noqa: E731 - gray -> RGB, as gan-eval does
    lib = torch_fidelity.calculate_metrics(input1=rgb(fake), input2=rgb(real), fid=True, cuda=False, cache=False,
                                           verbose=False, feature_extractor="inception-v3-compat",
                                           feature_extractor_weights_path=str(weights), batch_size=50,
                                           samples_shuffle=False)["frechet_inception_distance"]
    t2 = time.perf_counter()
    print(f"{args.num} + {args.num} images, weights {weights.name} ({'given' if args.weights else 'random'}): "
          f"gan-eval FID {ours:.6f} ({t1 - t0:.0f}s), torch-fidelity calculate_metrics FID {lib:.6f} ({t2 - t1:.0f}s), "
          f"relative difference {abs(ours - lib) / abs(lib):.2e}")


if __name__ == "__main__":
    main()
