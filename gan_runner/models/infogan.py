"""Chen et al. 2016, InfoGAN: latent codes c beside z; a Q head sharing D's body predicts c from G(z, c).

The mutual-information lower bound L_I = E[log Q(c|G(z,c))] + H(c) is maximized by G and Q
(lambda-weighted). Categorical codes use a softmax Q; continuous codes a factored Gaussian with
unit variance, so their -log Q is 0.5 * squared error up to a constant. Architecture = the paper's
MNIST networks (FC-BN-ReLU into two up-convs; D with LeakyReLU(0.1)), scaled by `width`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_runner.data.base import DataSpec
from gan_runner.errors import ConfigError
from gan_runner.models.base import DOut, GANModel, Latent
from gan_runner.models.blocks import MinibatchStd, Norm, check_positive, dcgan_init, norm1d, norm2d
from gan_runner.models.d_options import DOptions, with_d_options
from gan_runner.registry import register_model
from gan_runner.stats import StatsSink


class InfoGenerator(nn.Module):
    """G(z, c): FC 16w -> FC 2w x s/4 x s/4 -> up-conv w -> up-conv C, Tanh."""

    def __init__(self, in_dim: int, spec: DataSpec, width: int, cat_dim: int) -> None:
        super().__init__()
        s = spec.image_size // 4
        self.cat_dim = cat_dim
        self.net = nn.Sequential(
            nn.Linear(in_dim, 16 * width), nn.BatchNorm1d(16 * width), nn.ReLU(True),
            nn.Linear(16 * width, 2 * width * s * s), nn.BatchNorm1d(2 * width * s * s), nn.ReLU(True),
            nn.Unflatten(1, (2 * width, s, s)),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(True),
            nn.ConvTranspose2d(width, spec.channels, 4, 2, 1), nn.Tanh(),  # (B, C, H, W)
        )

    def forward(self, latent: Latent) -> torch.Tensor:
        assert latent.c_cat is not None and latent.c_cont is not None, "InfoGAN's generator needs codes"
        cat = F.one_hot(latent.c_cat, self.cat_dim).flatten(1).to(latent.z.dtype)  # (B, n_cat * cat_dim)
        return self.net(torch.cat([latent.z, cat, latent.c_cont], dim=1))


class InfoDiscriminator(nn.Module):
    """Shared body -> real/fake logit, and Q head -> code predictions (categorical logits, Gaussian means)."""

    def __init__(self, spec: DataSpec, width: int, norm: Norm, q_dim: int, mbstd: bool = False) -> None:
        super().__init__()
        s = spec.image_size // 4
        # minibatch std at the s x s stage (as DCGANBody does at 4x4), before the dense layer that sees the whole map
        stat, extra = ([MinibatchStd()], 1) if mbstd else ([], 0)
        self.body = nn.Sequential(
            nn.Conv2d(spec.channels, width, 4, 2, 1), nn.LeakyReLU(0.1, True),
            nn.Conv2d(width, 2 * width, 4, 2, 1), norm2d(norm, 2 * width), nn.LeakyReLU(0.1, True),
            *stat, nn.Flatten(),
            nn.Linear((2 * width + extra) * s * s, 16 * width), norm1d(norm, 16 * width), nn.LeakyReLU(0.1, True),
        )
        self.adv = nn.Linear(16 * width, 1)
        self.q = nn.Sequential(nn.Linear(16 * width, 128), norm1d(norm, 128), nn.LeakyReLU(0.1, True), nn.Linear(128, q_dim))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DOut:
        h = self.body(x)
        return DOut(self.adv(h).squeeze(1), self.q(h))  # (B,), (B, q_dim)


class InfoGAN(GANModel):
    """InfoGAN with `n_cat` categorical codes of `cat_dim` values and `n_cont` uniform(-1, 1) codes."""

    has_codes = True

    def __init__(self, *args, n_cat: int, cat_dim: int, n_cont: int, info_weight: float, cont_weight: float,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.n_cat, self.cat_dim, self.n_cont = n_cat, cat_dim, n_cont
        self.info_weight, self.cont_weight = info_weight, cont_weight

    def sample_latent(self, n: int, device: torch.device | str, gen: torch.Generator | None = None) -> Latent:
        z = torch.randn(n, self.z_dim, device=device, generator=gen)
        c_cat = torch.randint(0, self.cat_dim, (n, self.n_cat), device=device, generator=gen)
        c_cont = torch.rand(n, self.n_cont, device=device, generator=gen) * 2 - 1
        return Latent(z, None, c_cat, c_cont)

    def info_loss(self, out: DOut, latent: Latent, stats: StatsSink | None = None) -> torch.Tensor:
        """-L_I up to the constant H(c): cross-entropy of categorical codes + weighted Gaussian NLL of continuous ones."""
        assert out.aux is not None and latent.c_cat is not None and latent.c_cont is not None
        split = self.n_cat * self.cat_dim
        logits = out.aux[:, :split].reshape(-1, self.n_cat, self.cat_dim)  # (B, n_cat, cat_dim)
        ce = F.cross_entropy(logits.transpose(1, 2), latent.c_cat)  # mean over batch and codes
        mse = (out.aux[:, split:] - latent.c_cont).pow(2).mean() if self.n_cont else ce.new_zeros(())
        loss = self.info_weight * (self.n_cat * ce + self.cont_weight * 0.5 * mse * self.n_cont)
        acc = (logits.argmax(2) == latent.c_cat).float().mean()
        if stats is not None:
            stats.report("info/cat_ce", ce)
            stats.report("info/cat_acc", acc)
            stats.report("info/cont_mse", mse)
        return loss

    def d_aux_loss(self, real: DOut, y_real: torch.Tensor | None, fake: DOut, latent: Latent, stats: StatsSink) -> torch.Tensor | None:
        return self.info_loss(fake, latent, stats)  # trains Q (and the shared body) on detached fakes

    def g_aux_loss(self, fake: DOut, latent: Latent, stats: StatsSink) -> torch.Tensor | None:
        return self.info_loss(fake, latent)

    def grid_latents(self, n: int, device: torch.device | str, gen: torch.Generator) -> dict[str, tuple[Latent, int]]:
        # Rows: values of the first categorical code. Columns: fresh z ("categorical"), or one
        # fixed z with continuous code j swept over [-2, 2] (the paper's traversal, past the prior).
        rows, cols = self.cat_dim, max(2, n // self.cat_dim)
        c_cat = torch.zeros(rows * cols, self.n_cat, dtype=torch.long, device=device)
        c_cat[:, 0] = torch.arange(rows, device=device).repeat_interleave(cols)
        z_cols = torch.randn(cols, self.z_dim, device=device, generator=gen).repeat(rows, 1)
        zero = torch.zeros(rows * cols, self.n_cont, device=device)
        grids = {"categorical": (Latent(z_cols, None, c_cat, zero), cols)}
        z_one = torch.randn(1, self.z_dim, device=device, generator=gen).expand(rows * cols, -1)
        sweep = torch.linspace(-2, 2, cols, device=device).repeat(rows)
        for j in range(self.n_cont):
            c = zero.clone()
            c[:, j] = sweep
            grids[f"continuous_{j}"] = (Latent(z_one.contiguous(), None, c_cat, c), cols)
        return grids


@register_model("infogan")
@with_d_options
def build_infogan(spec: DataSpec, d_transforms: tuple, d: DOptions, *, z_dim: int = 62, width: int = 64, n_cat: int = 1,
                  cat_dim: int = 10, n_cont: int = 2, info_weight: float = 1.0, cont_weight: float = 0.1,
                  d_norm: Norm = "batch") -> GANModel:
    """InfoGAN (paper MNIST setting: z 62, one 10-way categorical code, two continuous codes)."""
    if not spec.is_image or spec.image_size % 4:
        raise ConfigError(f"model 'infogan' needs images with dataset.image_size divisible by 4; got shape {spec.shape}")
    check_positive("infogan", z_dim=z_dim, width=width, n_cat=n_cat)
    if cat_dim < 2:
        raise ConfigError(f"model 'infogan' option 'cat_dim' must be >= 2 (values per categorical code), got {cat_dim}")
    if n_cont < 0 or info_weight < 0 or cont_weight < 0:
        raise ConfigError("model 'infogan' options 'n_cont', 'info_weight', 'cont_weight' must be >= 0")
    q_dim = n_cat * cat_dim + n_cont
    G = InfoGenerator(z_dim + n_cat * cat_dim + n_cont, spec, width, cat_dim)
    D = InfoDiscriminator(d.spec(spec, "infogan"), width, d_norm, d.heads(q_dim), d.mbstd)  # Q: every packed sample's codes
    model = InfoGAN(spec, G, D, z_dim, d_transforms=d_transforms, n_cat=n_cat, cat_dim=cat_dim, n_cont=n_cont,
                    info_weight=info_weight, cont_weight=cont_weight)
    dcgan_init(model)
    return model
