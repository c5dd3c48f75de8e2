"""torchvision's ImageNet InceptionV3 from a user-supplied weights file (`--inception PATH`); never downloads.

This is NOT the network of the literature's FID: torchvision's weights were trained again on ImageNet
(1000 classes), its pools differ from the 2015 TF graph (count_include_pad, the last block's max pool),
and pytorch-fid warns that it gives different numbers. Its results are tagged `inception-torchvision`;
the literature's FID network is `--features inception` (fid_inception.py).
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gan_runner.errors import UserError
from gan_runner.metrics.space import FeatureSpace

TAG = "inception-torchvision"


class InceptionFeatures(nn.Module):
    """(B, C, H, W) in [-1, 1] -> pool3 features (B, 2048) and ImageNet logits (B, 1000)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.fc = net.fc
        net.fc = nn.Identity()  # forward() now ends at the 2048-d average-pooled features
        self.net = net.eval()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # gray -> RGB
        # torchvision's Inception wants [-1, 1] inputs when transform_input=False (its transform_input
        # maps ImageNet-normalized inputs to exactly that), at 299x299.
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        f = self.net(x)
        return f, self.fc(f)


def check_weights_file(path: str | Path) -> Path:
    """The weights path, or a UserError if there is no such file (checked before any sampling)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"--inception {p}: no such file; give a local torchvision inception_v3 state_dict "
                        "(e.g. inception_v3_google-0cc3c7bd.pth); nothing is downloaded")
    return p


def load_inception(path: str | Path) -> InceptionFeatures:
    """Build torchvision's inception_v3 (no weights, no download) and load a local state_dict into it."""
    from torchvision.models import inception_v3

    p = check_weights_file(path)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError) as e:
        raise UserError(f"--inception {p} is unreadable (not a torch state_dict file?): {str(e).splitlines()[0][:200]}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserError(f"--inception {p} does not hold a state_dict")
    # init_weights=False: skip the slow truncated-normal init of weights that are overwritten anyway.
    net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
    try:
        result = net.load_state_dict(state, strict=False)
    except RuntimeError as e:  # right names, wrong shapes
        raise UserError(f"--inception {p} does not fit torchvision's inception_v3: {str(e).splitlines()[1:2] or e}") from None
    missing = [k for k in result.missing_keys if not k.startswith("AuxLogits.")]  # the aux head is unused
    if missing or result.unexpected_keys:
        bad = (missing or result.unexpected_keys)[:3]
        raise UserError(f"--inception {p} is not a torchvision inception_v3 state_dict "
                        f"({len(missing)} missing, {len(result.unexpected_keys)} unexpected keys, e.g. {', '.join(bad)})")
    return InceptionFeatures(net)


def inception_space(path: str | Path, device: torch.device | str = "cpu") -> FeatureSpace:
    """A FeatureSpace over InceptionV3 pool3 features and logits."""
    device = torch.device(device)
    net = load_inception(path).to(device)
    return FeatureSpace("inception_v3 (torchvision)", net, device, {"kind": "torchvision ImageNet inception_v3 (not the FID network)",
                                                          "weights": str(Path(path).expanduser()), "tag": TAG})
