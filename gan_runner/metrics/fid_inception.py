"""The literature's FID network: the TF InceptionV3 of 2015-12-05 (1008 classes), as torch-fidelity ports it.

torch-fidelity's FeatureExtractorInceptionV3 is what torchmetrics' FID (feature=2048) runs, and it ports
the original TF graph (count_include_pad=False average pools, the max pool in Mixed_7c's pool branch) and
its preprocessing: uint8 RGB in, TF1-exact bilinear resize to 299x299 (interpolate_bilinear_2d_like_tensorflow1x),
then (x - 128) / 128. We call that network on uint8 images and change nothing of it; grayscale images are
repeated to 3 channels first. Chosen over pytorch-fid's InceptionV3 because it takes a local weights file
as a documented argument (pytorch-fid only downloads) and its resize matches TF's bit for bit where
pytorch-fid uses F.interpolate. Features: pool3 (2048-d); class posteriors: the unbiased 1008-way logits
(torch-fidelity's IS).
"""
from __future__ import annotations

import pickle
import urllib.error
import zipfile
from pathlib import Path

import torch
from torch import nn

from gan_runner.errors import UserError
from gan_runner.metrics.space import FeatureSpace

WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's release file name
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_FILE}"
FEATURE_DIM = 2048
SPACE_NAME = "inception"


class FIDInceptionFeatures(nn.Module):
    """uint8 (B, C, H, W) -> pool3 features (B, 2048) and unbiased logits (B, 1008), through torch-fidelity's network."""

    takes_uint8 = True  # FeatureSpace.embed hands it the images as they are: the library does its own preprocessing

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # gray -> RGB, as clean-fid and torch-fidelity's users do
        f, logits = self.net(x.contiguous())
        return f, logits


def default_weights_path() -> Path:
    """Where the torch hub cache keeps the weights (the download goes there; offline, put the file there)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def fetch_weights() -> Path:
    """The cached weights file, downloaded once where there is internet; offline: one line saying what to put where."""
    path = default_weights_path()
    if path.is_file():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(WEIGHTS_URL, str(path), progress=False)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        raise UserError(f"cannot download the FID Inception weights ({type(e).__name__}); offline, put {WEIGHTS_FILE} "
                        f"({WEIGHTS_URL}) at {path}, or pass --inception-weights FILE") from None
    return path


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A weights file's state_dict, loaded without running any code in it (weights_only); bad files: one line."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"--inception-weights {p}: no such file; give torch-fidelity's {WEIGHTS_FILE}")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)  # a pickle with code in it is refused, not run
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError) as e:
        raise UserError(f"--inception-weights {p} is not a readable weights file (truncated, or a pickle with code?): "
                        f"{str(e).splitlines()[0][:160]}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"--inception-weights {p} does not hold a state_dict of tensors")
    fc = state.get("fc.weight")
    if fc is not None and tuple(fc.shape) == (1000, FEATURE_DIM):
        raise UserError(f"--inception-weights {p} is torchvision's ImageNet inception_v3 (1000 classes), not the FID "
                        "Inception (1008); use it with --inception PATH, or give torch-fidelity's " + WEIGHTS_FILE)
    return state


def load_fid_inception(path: str | Path | None = None) -> FIDInceptionFeatures:
    """torch-fidelity's FeatureExtractorInceptionV3 with the given (else cached or downloaded) weights."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3  # heavy: only when asked

    p = Path(path).expanduser() if path is not None else fetch_weights()
    read_weights(p)  # checked safe first: the library itself loads with weights_only=False
    try:
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                          feature_extractor_weights_path=str(p))
    except RuntimeError as e:  # missing/unexpected keys or wrong shapes
        raise UserError(f"--inception-weights {p} does not fit the FID Inception: "
                        f"{' '.join(str(e).split())[:200]}") from None
    return FIDInceptionFeatures(net)


def fid_inception_space(path: str | Path | None = None, device: torch.device | str = "cpu") -> FeatureSpace:
    """A FeatureSpace over the FID Inception's pool3 features and 1008-way logits."""
    device = torch.device(device)
    net = load_fid_inception(path).to(device)
    return FeatureSpace(SPACE_NAME, net, device, {"kind": "FID Inception (TF 2015-12-05, torch-fidelity 0.4.0)",
                                                   "weights": str(path or default_weights_path()),
                                                   "feature_dim": FEATURE_DIM, "tag": SPACE_NAME})
