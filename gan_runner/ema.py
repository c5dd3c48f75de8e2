"""Exponential moving average of the generator's weights (Karras et al. 2018; Yazici et al. 2019)."""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """A frozen copy of G whose weights track decay * ema + (1 - decay) * G after each G step.

    The effective decay ramps up as min(decay, (1 + t) / (10 + t)) so that short runs are not
    dominated by the random initialization.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend the current weights in; buffers (BN running stats) are copied."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        ema_p = list(self.module.parameters())
        torch._foreach_lerp_(ema_p, [p.detach() for p in model.parameters()], 1.0 - d)
        for b_ema, b in zip(self.module.buffers(), model.buffers()):
            b_ema.copy_(b)

    def state_dict(self) -> dict:
        """Weights plus the update count (the ramp depends on it)."""
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        """Restore from `state_dict`."""
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
