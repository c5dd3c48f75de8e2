"""Feature matching (Salimans et al. 2016, sec. 3.1): G also matches the mean of an intermediate D feature.

G's extra term is weight * ||E_x f(x) - E_z f(G(z))||^2, with f the activations of one D layer on the phase's real
batch and on G's batch. The paper's f is "an intermediate layer of the discriminator"; `layer: auto` takes D's
last hidden features (the `body` module's output where D has one, else the input of D's last linear layer),
or a module name of D (`gan-run --cfg job` shows the model; names as in D.named_modules(), e.g. `body.4`).
The layer is read through a forward hook, so it works on any D, under unrolling (against D^K) and packing.
"""
from __future__ import annotations

import torch
from torch import nn

from gan_runner.errors import ConfigError
from gan_runner.losses.base import Batch, Objective, full_precision
from gan_runner.models.base import GANModel
from gan_runner.stats import StatsSink


def feature_module(D: nn.Module, layer: str) -> tuple[nn.Module, bool]:
    """(module, use_its_input) for `layer`: 'auto' or a module name of D; one ConfigError line when there is none."""
    if layer == "auto":
        body = getattr(D, "body", None)
        if isinstance(body, nn.Module):
            return body, False
        linears = [m for m in D.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ConfigError("stabilize.feature_layer=auto found no linear layer in D; name a module of D instead")
        return linears[-1], True  # its input: the last hidden features
    modules = dict(D.named_modules())
    if layer not in modules or not layer:
        names = ", ".join(n for n in modules if n)[:200]
        raise ConfigError(f"stabilize.feature_layer '{layer}' is not a module of D (D's modules: {names})")
    return modules[layer], False


class FeatureMatching:
    """A wrapper of G's objective adding weight * ||mean f(real) - mean f(fake)||^2."""

    def __init__(self, weight: float, layer: str) -> None:
        self.weight, self.layer = weight, layer

    def __call__(self, g_objective: Objective, model: GANModel) -> Objective:
        module, use_input = feature_module(model.D, self.layer)

        def objective(batch: Batch, step: int, stats: StatsSink) -> torch.Tensor:
            total = g_objective(batch, step, stats)
            feats: list[torch.Tensor] = []
            handle = module.register_forward_hook(
                lambda _m, inp, out: feats.append(full_precision(inp[0] if use_input else out).flatten(1)))
            try:  # real side with its graph too: under unrolling D^K, and so f(real), depends on G
                model.discriminate(batch.real, batch.y)
                model.discriminate(batch.fake, batch.latent.y)
            finally:
                handle.remove()
            real_f, fake_f = feats[0], feats[-1]  # (B, F) each
            fm = (real_f.mean(0) - fake_f.mean(0)).pow(2).sum()
            stats.report("fm/distance", fm)
            return total + self.weight * fm

        return objective
