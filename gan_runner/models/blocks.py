"""Network pieces shared by the variants: DCGAN conv stacks, MLPs, maxout, weight init."""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Literal

import torch
from torch import nn

from gan_runner.data.base import DataSpec
from gan_runner.errors import ConfigError

Norm = Literal["batch", "layer", "none"]


def dcgan_depth(spec: DataSpec, model: str) -> int:
    """Number of stride-2 stages k for image_size = 4 * 2**k; a clear error for other sizes."""
    if not spec.is_image:
        raise ConfigError(
            f"model '{model}' needs image data but dataset '{spec.name}' gives vectors of shape {spec.shape}; "
            "use model=gan for 2D data"
        )
    size = spec.image_size
    k = int(round(math.log2(size / 4))) if size >= 8 else 0
    if k < 1 or 4 * 2**k != size:
        raise ConfigError(
            f"model '{model}' needs dataset.image_size = 4*2^k (8, 16, 32, 64, ...); got {size}"
        )
    return k


def norm2d(kind: Norm, channels: int) -> nn.Module:
    """Feature normalization for conv layers ('layer' = over C,H,W, as WGAN-GP's critic wants)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


def norm1d(kind: Norm, features: int) -> nn.Module:
    """Feature normalization for linear layers."""
    if kind == "batch":
        return nn.BatchNorm1d(features)
    if kind == "layer":
        return nn.LayerNorm(features)
    return nn.Identity()


class DCGANGenerator(nn.Sequential):
    """Radford et al. 2015: project z to 4x4, then fractionally-strided convs with BN + ReLU, Tanh out."""

    def __init__(self, in_dim: int, out_channels: int, depth: int, width: int) -> None:
        ch = width * 2 ** (depth - 1)  # 4x4 stage channels; halves at each upsampling
        layers: list[nn.Module] = [
            nn.Unflatten(1, (in_dim, 1, 1)),
            nn.ConvTranspose2d(in_dim, ch, 4, 1, 0, bias=False),  # (B, ch, 4, 4)
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(depth - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, out_channels, 4, 2, 1, bias=False), nn.Tanh()]  # (B, C, H, W)
        super().__init__(*layers)


class DCGANBody(nn.Sequential):
    """Radford et al. D without its last layer: strided convs, LeakyReLU(0.2), no norm on the input layer.

    Output: flattened (B, width * 2**(depth-1) * 16) features of the 4x4 stage; a Linear on them is
    exactly the paper's final 4x4 conv.

    The paper's convs have no biases: BN's shift stands in for them. Without a norm (`norm="none"`, as
    spectral normalization wants) every conv gets a bias (`self.biased`): a bias-free D of convs and
    LeakyReLUs is positively homogeneous, D(a x) = a D(x), so D(0) = 0 whatever it learns and a
    generator that outputs grey (0) images cannot be scored as fake; SN + hinge then stalls there.
    """

    def __init__(self, in_channels: int, depth: int, width: int, norm: Norm, dropout: float = 0.0,
                 mbstd: bool = False) -> None:
        biased = norm == "none"
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1, bias=biased), nn.LeakyReLU(0.2, True)]
        ch = width
        for _ in range(depth - 1):
            if dropout:
                layers.append(nn.Dropout(dropout))
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=biased), norm2d(norm, ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        if dropout:
            layers.append(nn.Dropout(dropout))
        if mbstd:  # at the 4x4 stage, as in Karras et al. 2018, so the last layer sees the batch statistic
            layers.append(MinibatchStd())
            ch += 1
        layers.append(nn.Flatten())
        super().__init__(*layers)
        self.out_features = ch * 16
        self.biased = biased


class Maxout(nn.Module):
    """Maxout unit layer (Goodfellow et al. 2013): max over `pieces` linear pieces per unit."""

    def __init__(self, in_features: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(x.shape[0], self.units, self.pieces).amax(dim=2)  # (B, units)


def mlp_layers(
    in_features: int,
    hidden: list[int],
    activation: Literal["relu", "leaky_relu", "maxout"],
    *,
    pieces: int = 5,
    dropout: float = 0.0,
    input_dropout: float = 0.0,
    norm: Norm = "none",
) -> tuple[list[nn.Module], int]:
    """Hidden layers of an MLP and their output width."""
    layers: list[nn.Module] = [nn.Dropout(input_dropout)] if input_dropout else []
    n = in_features
    for h in hidden:
        if activation == "maxout":
            layers.append(Maxout(n, h, pieces))
        else:
            layers += [nn.Linear(n, h), norm1d(norm, h)]
            layers.append(nn.ReLU(True) if activation == "relu" else nn.LeakyReLU(0.2, True))
        if dropout:
            layers.append(nn.Dropout(dropout))
        n = h
    return layers, n


def dcgan_init(module: nn.Module) -> None:
    """Radford et al. init: conv/linear weights N(0, 0.02), norm scales N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d, nn.GroupNorm, nn.LayerNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def check_positive(model: str, **values: float) -> None:
    """ConfigError for any non-positive size option."""
    for key, v in values.items():
        if v <= 0:
            raise ConfigError(f"model '{model}' option '{key}' must be > 0, got {v}")


def check_probability(model: str, **values: float) -> None:
    """ConfigError for a dropout rate outside [0, 1)."""
    for key, v in values.items():
        if not 0 <= v < 1:
            raise ConfigError(f"model '{model}' option '{key}' must be a probability in [0, 1), got {v}")


class MinibatchStd(nn.Module):
    """Karras et al. 2018 minibatch standard deviation: append the mean feature std over a group as one feature.

    D sees a statistic of the batch, so a generator that collapses (low variety) is easy to tell apart.
    Works on (B, C, H, W) (adds one channel) and (B, F) (adds one feature).
    """

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        g = self.group_size if b % self.group_size == 0 else b  # groups must tile the batch
        grouped = x.float().reshape(g, b // g, *x.shape[1:])  # (G, B/G, ...): stats over the G axis
        std = (grouped.var(dim=0, unbiased=False) + 1e-8).sqrt()  # (B/G, ...)
        stat = std.flatten(1).mean(dim=1).to(x.dtype)  # (B/G,) one number per group
        stat = stat.repeat(g)  # (B,) sample i belongs to group i % (B/G)
        extra = stat.view(b, 1, *([1] * (x.dim() - 2))).expand(b, 1, *x.shape[2:])
        return torch.cat([x, extra], dim=1)


def spectral_normalize(module: nn.Module) -> nn.Module:
    """Miyato et al. 2018: divide every conv/linear weight by its largest singular value (one power iteration per call)."""
    for m in list(module.modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear)) and not hasattr(m, "parametrizations"):
            nn.utils.parametrizations.spectral_norm(m)
    return module


def packed_spec(spec: DataSpec, pack: int, model: str) -> DataSpec:
    """The spec D is built for under PacGAN packing: m times the channels (images) or features (vectors)."""
    check_positive(model, pack=pack)
    if pack == 1:
        return spec
    return replace(spec, shape=(spec.shape[0] * pack, *spec.shape[1:]))
