"""Training phases: each one optimizer step kind (D main, G main, ...) with its batch, objective, optimizer and hooks.

After StyleGAN2-ADA's training loop: the trainer runs `phases` in order, each `repeats` times per
iteration, through one body (batch, objective, zero_grad, backward, all-reduce, step, after-step hooks).
What differs between GAN variants, losses and stabilizers is inside the objective callables built
here and in stabilizers/; the loop names none of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from gan_runner.data.base import BatchStream
from gan_runner.losses.base import AdversarialLoss, Batch, Objective, Penalty  # Batch, Objective: re-exported
from gan_runner.models.base import GANModel
from gan_runner.stats import StatsSink


@dataclass(frozen=True)
class Phase:
    """One kind of optimizer step: `repeats` per iteration on batches from `make_batch`."""

    name: str  # "D" or "G": names the grad_norm/<name> statistic
    params: list[nn.Parameter]
    optimizer: torch.optim.Optimizer
    make_batch: Callable[[], Batch]
    objective: Objective
    repeats: int = 1
    frozen: nn.Module | None = None  # a module whose weights get no gradient in this phase (D during G's step)
    after_step: list[Callable[[], None]] = field(default_factory=list)  # WGAN's clipping, EMA
    clip_grad_norm: float | None = None  # the phase's gradients scaled to at most this total L2 norm before the step


class Batches:
    """Real batches, latents and G(latent) for the D and G phases, with G(z) shared when there is one D step.

    With n_critic = 1 (Algorithm 1 with k = 1, as the PyTorch DCGAN example runs it) G's step reuses the D
    step's latent and G(z) with its graph, saving a G forward per iteration. With more D steps each D step
    draws fresh data and latents and makes G(z) without a graph, and G's step draws its own latent; its real
    batch is the last D step's (the batch an unrolled G step trains D's copies on, as Metz et al. reuse D's).
    """

    def __init__(self, model: GANModel, stream: BatchStream, device: torch.device, n_critic: int) -> None:
        self.model, self.stream, self.device, self.shared = model, stream, device, n_critic == 1
        self.last: Batch | None = None

    def for_d(self) -> Batch:
        """A fresh real batch and latent batch; G(latent) with a graph only when G's step will reuse it."""
        real, y = self.stream.next()
        latent = self.model.sample_latent(self.stream.batch_size, self.device)
        if self.shared:
            fake = self.model.G(latent)
        else:
            with torch.no_grad():
                fake = self.model.G(latent)
        self.last = Batch(real, y, latent, fake)
        return self.last

    def for_g(self) -> Batch:
        """The D step's batch when shared, else a fresh latent and G(latent) with the last D step's real batch."""
        assert self.last is not None, "a D phase runs before the G phase"
        if self.shared:
            return self.last
        latent = self.model.sample_latent(self.stream.batch_size, self.device)
        return Batch(self.last.real, self.last.y, latent, self.model.G(latent))


def d_objective(model: GANModel, loss: AdversarialLoss, penalties: Sequence[Penalty]) -> Objective:
    """D's whole objective: the loss's adversarial and auxiliary terms plus each penalty on the steps it is due."""

    def objective(batch: Batch, step: int, stats: StatsSink, *, detach_fake: bool = True) -> torch.Tensor:
        # detach_fake=False keeps G(z)'s graph: unrolled D steps differentiate through them into G
        fake = batch.fake.detach() if detach_fake else batch.fake
        total = loss.d_objective(model, batch.real, batch.y, batch.latent, fake, stats)
        for penalty in penalties:
            if step % penalty.every == 0:  # lazy regularization: the penalty scales itself by `every`
                total = total + penalty(model, batch.real, batch.y, fake, batch.latent.y, stats)
        return total

    return objective


def g_objective(model: GANModel, loss: AdversarialLoss) -> Objective:
    """G's objective: the loss's adversarial term (which may also judge the real batch) and the model's auxiliary term."""

    def objective(batch: Batch, step: int, stats: StatsSink) -> torch.Tensor:
        return loss.g_objective(model, batch.latent, batch.fake, stats, real=batch.real, y=batch.y)

    return objective
