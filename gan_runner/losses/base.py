"""Adversarial losses as objects: the trainer asks for D's and G's objectives and never sees a formula.

A loss defines the adversarial terms on D's logits; this base class adds the variant's auxiliary
terms (from the model), any regularizer (gradient penalty), and reports statistics as detached
device tensors so the hot loop never syncs with the host.
"""
from __future__ import annotations

import torch

from gan_runner.models.base import GANModel, Latent, Stats


class AdversarialLoss:
    """Base: subclasses implement `d_terms` and `g_term` on logits; hooks default to no-ops."""

    #: what the D(x)/D(G(z)) statistics mean: probabilities (sigmoid of logits) or raw critic values
    probabilistic = True
    #: extra D penalties from `stabilize` (R1/R2), each applied on the steps it is due
    penalties: tuple = ()
    #: the trainer's step, set before each iteration (lazy regularization schedules on it)
    step = 0

    def begin_step(self, step: int) -> None:
        """Called before each training iteration."""
        self.step = step

    def d_terms(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """D's adversarial loss from logits on real (B,) and fake (B,) samples (to minimize)."""
        raise NotImplementedError

    def g_term(self, fake: torch.Tensor) -> torch.Tensor:
        """G's adversarial loss from D's logits on fakes (to minimize)."""
        raise NotImplementedError

    def d_regularizer(self, model: GANModel, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor | None, Stats]:
        """Extra D penalty on the batch (None: none)."""
        return None, {}

    def after_d_step(self, model: GANModel) -> None:
        """Called after each D optimizer step (WGAN's weight clipping)."""

    def d_objective(self, model: GANModel, real: torch.Tensor, y: torch.Tensor | None, latent: Latent,
                    fake: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        """D's total loss on one batch of real data and one latent batch (and G(latent) if already made)."""
        if fake is None:
            with torch.no_grad():
                fake = model.G(latent)  # (B, ...) no graph into G: D's step only
        fake = fake.detach()
        out_real = model.discriminate(real, y)
        out_fake = model.discriminate(fake, latent.y)
        adv = self.d_terms(out_real.adv.float(), out_fake.adv.float())  # fp32 losses, also under bf16 autocast
        loss = adv
        stats: Stats = {"loss/d": adv.detach(), **self.d_stats(out_real.adv.detach(), out_fake.adv.detach())}
        aux, aux_stats = model.d_aux_loss(out_real, y, out_fake, latent)
        if aux is not None:
            loss = loss + aux
            stats.update(aux_stats)
        reg, reg_stats = self.d_regularizer(model, real, fake, y)
        if reg is not None:
            loss = loss + reg
            stats.update(reg_stats)
        for penalty in self.penalties:
            if penalty.due(self.step):
                pen, pen_stats = penalty(model, real, fake, y, latent.y)
                loss = loss + pen
                stats.update(pen_stats)
        return loss, stats

    def g_objective(self, model: GANModel, latent: Latent, fake: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        """G's total loss on one latent batch (`fake` = G(latent) with its graph, if already made)."""
        out = model.discriminate(model.G(latent) if fake is None else fake, latent.y)
        adv = self.g_term(out.adv.float())
        loss = adv
        stats: Stats = {"loss/g": adv.detach()}
        aux, aux_stats = model.g_aux_loss(out, latent)
        if aux is not None:
            loss = loss + aux
            stats.update(aux_stats)
        return loss, stats

    def d_stats(self, real: torch.Tensor, fake: torch.Tensor) -> Stats:
        """D(x) and D(G(z)): mean probabilities, or mean critic values for non-probabilistic losses."""
        if self.probabilistic:
            return {"D/real": torch.sigmoid(real).mean(), "D/fake": torch.sigmoid(fake).mean()}
        return {"D/real": real.mean(), "D/fake": fake.mean()}
