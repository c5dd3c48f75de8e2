"""trainer.compile: torch.compile G and D for the training steps, checked before any training.

`nn.Module.compile()` compiles a module's forward in place instead of wrapping the module, so
state_dict keys stay clean (no "_orig_mod." prefix): checkpoints of a compiled run load into eager
models, gan-sample and gan-eval. Compiled graphs cannot be differentiated twice, so D stays eager
when D's graph needs double backward (gradient penalties, an unrolled D).
"""
from __future__ import annotations

import os
import shutil
import sys
from typing import Sequence

import torch

from gan_runner.errors import ConfigError
from gan_runner.models.base import GANModel


def check_compile_available(device: torch.device) -> None:
    """One clear ConfigError when torch.compile cannot build kernels for `device` here."""
    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        raise ConfigError(f"trainer.compile=true: torch.compile does not support Python {sys.version.split()[0]} "
                          "in this torch; use trainer.compile=false")
    if device.type == "cpu":
        cxx = os.environ.get("CXX", "g++")  # what inductor's CPU backend invokes
        if shutil.which(cxx) is None:
            raise ConfigError(f"trainer.compile=true on CPU needs a C++ compiler ({cxx} not found); "
                              "install g++ (or set CXX) or use trainer.compile=false")
    elif device.type == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            raise ConfigError("trainer.compile=true on GPU needs triton (pip install triton); or use trainer.compile=false")


def needs_double_backward(penalties: Sequence[object], unroll: int) -> bool:
    """Whether training differentiates through D's gradient (any D penalty: WGAN-GP's, R1/R2; an unrolled D)."""
    return bool(penalties) or unroll > 0


def compile_models(model: GANModel, device: torch.device, double_backward: bool, verbose: bool) -> list[str]:
    """Compile G's and (unless training differentiates D's gradient: penalties, unrolling) D's forward in place."""
    check_compile_available(device)
    model.G.compile()
    if double_backward:
        if verbose:
            print("note: trainer.compile compiles G only: a gradient penalty (wgan_gp, stabilize.r1/r2) or "
                  "stabilize.unroll differentiates D twice, which compiled graphs cannot", file=sys.stderr)
        return ["G"]
    model.D.compile()
    return ["G", "D"]
