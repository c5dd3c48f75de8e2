"""Adversarial losses as objects: the trainer's phases ask for D's and G's objectives and never see a formula.

A loss defines the adversarial terms on D's logits; this base class adds the variant's auxiliary
terms (from the model) and reports statistics as detached device tensors into the run's `StatsSink`
(the hot loop never syncs with the host). Penalties on D's gradient (WGAN-GP's, R1/R2) are `Penalty`
objects with their own schedule: a loss brings its own in `penalties`, `stabilize` adds more, and the
D phase applies each on the steps it is due.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import torch

from gan_runner.models.base import GANModel, Latent
from gan_runner.stats import StatsSink


def full_precision(x: torch.Tensor) -> torch.Tensor:
    """x in at least float32: losses under bf16 autocast are taken in fp32 (float64 stays float64: gradient checks)."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def input_for_grad(x: torch.Tensor) -> torch.Tensor:
    """x itself when it already carries a graph (G(z) in an unrolled D step: the penalty must stay a function of
    theta_G), else a leaf copy that requires grad, so that grad_x D(x) can be taken either way."""
    return x if x.requires_grad else x.detach().requires_grad_(True)


@dataclass
class Batch:
    """What one phase step consumes: a real batch, a latent batch and G(latent)."""

    real: torch.Tensor  # (B, ...) normalized
    y: torch.Tensor | None  # (B,) labels or None
    latent: Latent
    fake: torch.Tensor  # (B, ...) G(latent): with its graph for G's step, without for D's


Objective = Callable[[Batch, int, StatsSink], torch.Tensor]  # (batch, step, stats) -> scalar loss: what a phase optimizes


class Penalty(Protocol):
    """A D regularizer with its schedule: added to D's objective every `every` iterations, scaled as it likes."""

    name: str
    every: int

    def __call__(self, model: GANModel, real: torch.Tensor, y: torch.Tensor | None, fake: torch.Tensor,
                 fake_y: torch.Tensor | None, stats: StatsSink) -> torch.Tensor:
        """The penalty on one batch (fake with or without its graph into G, as the phase decides), reporting its statistics."""


FAMILY_KEYS = ("loss/d", "loss/g", "D/real", "D/fake")  # the statistics whose unit is the loss family's


def family_tag(key: str, family: str) -> str:
    """`key` as a loss of `family` reports it: loss/d[wgan]; the BCE family ('') keeps the plain key."""
    return f"{key}[{family}]" if family else key


class AdversarialLoss:
    """Base: subclasses implement `d_terms` and `g_term` on logits; `after_d_step` defaults to a no-op."""

    #: what the D(x)/D(G(z)) statistics mean: probabilities (sigmoid of logits) or raw critic values
    probabilistic = True
    #: whether D's optimum is the density ratio p_data / p_g through sigmoid(D) (discriminator-driven sampling)
    density_ratio = False
    #: the loss's own D penalties (WGAN-GP's gradient penalty); `stabilize` adds R1/R2 beside them
    penalties: tuple[Penalty, ...] = ()
    #: whether G's term needs D's logits on the real batch too (relativistic losses); others skip that D pass
    g_uses_real = False
    #: the unit family of the loss and D-output statistics, appended to their tags (loss/d[wgan], D/real[wgan]) so that
    #: a chart or column never mixes units across a sweep's losses; '' for the BCE family (ns, minimax: nats and
    #: probabilities), whose tags stay loss/d, loss/g, D/real, D/fake
    family = ""
    #: statistics beside the four above worth the progress line (the trainer and logger name none themselves)
    extra_console_keys: tuple[str, ...] = ()

    def tag(self, key: str) -> str:
        """`key` (loss/d, loss/g, D/real, D/fake) as this loss family reports it."""
        return family_tag(key, self.family)

    @property
    def family_tags(self) -> tuple[str, ...]:
        """loss/d, loss/g, D/real and D/fake as this loss reports them (metrics.json final, HParams columns)."""
        return tuple(self.tag(k) for k in FAMILY_KEYS)

    @property
    def console_keys(self) -> tuple[str, ...]:
        """The statistics worth the progress line, as tagged."""
        return (*self.family_tags, *self.extra_console_keys)

    def d_terms(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """D's adversarial loss from logits on real (B,) and fake (B,) samples (to minimize)."""
        raise NotImplementedError

    def g_term(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        """G's adversarial loss from D's logits on fakes (B,), and on the real batch when `g_uses_real` (to minimize)."""
        raise NotImplementedError

    def after_d_step(self, model: GANModel) -> None:
        """Called after each D optimizer step (WGAN's weight clipping)."""

    def d_objective(self, model: GANModel, real: torch.Tensor, y: torch.Tensor | None, latent: Latent,
                    fake: torch.Tensor, stats: StatsSink) -> torch.Tensor:
        """D's adversarial + auxiliary loss on a real batch and G(latent) (`fake`, as the phase gives it).

        The phase owns detaching: D's own step passes G(z) detached; the unrolled GAN's imagined D steps pass
        it with its graph, so that theta_D^K depends on theta_G (Metz et al. 2016, eq. 12's second term).
        """
        out_real = model.discriminate(real, y)
        out_fake = model.discriminate(fake, latent.y)
        adv = self.d_terms(full_precision(out_real.adv), full_precision(out_fake.adv))  # fp32 losses under bf16 autocast
        stats.report(self.tag("loss/d"), adv)
        self.report_d_values(out_real.adv.detach(), out_fake.adv.detach(), stats)
        aux = model.d_aux_loss(out_real, y, out_fake, latent, stats)
        return adv if aux is None else adv + aux

    def g_objective(self, model: GANModel, latent: Latent, fake: torch.Tensor, stats: StatsSink, *,
                    real: torch.Tensor | None = None, y: torch.Tensor | None = None) -> torch.Tensor:
        """G's adversarial + auxiliary loss on G(latent) (`fake`, with its graph into G); `real`/`y`: the phase's real batch."""
        out = model.discriminate(fake, latent.y)
        real_adv = None
        if self.g_uses_real:
            assert real is not None, f"{type(self).__name__}'s G term needs the real batch"
            real_adv = full_precision(model.discriminate(real, y).adv)  # with its graph: D^K depends on G when unrolled
        adv = self.g_term(full_precision(out.adv), real_adv)
        stats.report(self.tag("loss/g"), adv)
        aux = model.g_aux_loss(out, latent, stats)
        return adv if aux is None else adv + aux

    def report_d_values(self, real: torch.Tensor, fake: torch.Tensor, stats: StatsSink) -> None:
        """D(x) and D(G(z)): mean probabilities, or mean critic values for non-probabilistic losses."""
        if self.probabilistic:
            real, fake = torch.sigmoid(real), torch.sigmoid(fake)
        stats.report(self.tag("D/real"), real.mean())
        stats.report(self.tag("D/fake"), fake.mean())
