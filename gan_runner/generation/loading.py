"""Rebuild a trained model from a run dir or checkpoint (for sampling, evaluation and tests)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from gan_runner import data as _data  # noqa: F401  (registers datasets)
from gan_runner import models as _models  # noqa: F401  (registers models)
from gan_runner.checkpoint import load_checkpoint, resolve_checkpoint
from gan_runner.data import build_dataset
from gan_runner.data.base import DataSpec
from gan_runner.ema import EMA
from gan_runner.errors import UserError
from gan_runner.memory_budget import PARAM_COPIES, check_fits, step_bytes
from gan_runner.models.base import GANModel
from gan_runner.registry import MODELS


@dataclass
class LoadedRun:
    """A trained model with its config; `generator(ema)` picks the weights to sample with."""

    model: GANModel
    ema_G: nn.Module | None
    config: dict[str, Any]
    step: int

    def generator(self, ema: bool = True) -> nn.Module:
        """The EMA generator where the run kept one (and `ema`), else the raw one."""
        return self.ema_G if ema and self.ema_G is not None else self.model.G


MAX_SIDE = 16_384  # no recorded sample dimension is larger; a record saying so is not one this code wrote


def offline(dataset_cfg: dict[str, Any]) -> dict[str, Any]:
    """A run's dataset config that never downloads: loading a run must not touch the network or write a data root."""
    return {**dataset_cfg, "download": False} if "download" in dataset_cfg else dict(dataset_cfg)


def recorded_spec(record: Any) -> DataSpec | None:
    """The DataSpec a checkpoint recorded (None for older checkpoints, or a record that is not one)."""
    try:
        spec = DataSpec(str(record["name"]), tuple(int(n) for n in record["shape"]),
                        None if record["num_classes"] is None else int(record["num_classes"]), bool(record["is_image"]))
    except (TypeError, KeyError, ValueError):
        return None
    if not spec.shape or any(not 1 <= n <= MAX_SIDE for n in spec.shape):
        return None
    return spec


def load_run(target: str | Path, device: str | torch.device = "cpu",
             check: Callable[[dict[str, Any]], None] | None = None) -> LoadedRun:
    """Load a run dir (its last checkpoint) or a checkpoint file into models on `device`; `check(ckpt)` runs first."""
    ckpt = load_checkpoint(resolve_checkpoint(target), map_location=device)
    if check is not None:
        check(ckpt)
    config = ckpt["config"]
    spec = recorded_spec(ckpt.get("spec")) or build_dataset(offline(config["dataset"])).spec  # the shapes of training time
    opts = dict(config["model"])
    name = str(opts.pop("name"))
    # a checkpoint's config could ask for any size: weights that cannot fit are refused before allocating them
    check_fits(step_bytes(lambda: MODELS.build(name, spec, options=opts), None) // PARAM_COPIES, torch.device(device),
               f"the model of {target}", "this checkpoint's model is too large for this machine")
    model = MODELS.build(name, spec, options=opts).to(device)
    ema_G = None
    try:
        model.G.load_state_dict(ckpt["G"])
        model.D.load_state_dict(ckpt["D"])
        if ckpt.get("G_ema") is not None:
            ema = EMA(model.G, 0.0)
            ema.load_state_dict(ckpt["G_ema"])
            ema_G = ema.module
    except (RuntimeError, KeyError) as e:  # saved by a different version of the model code
        raise UserError(f"checkpoint {target} was saved by another gan-runner version: its '{config['model']['name']}' "
                        f"weights do not fit the model this version builds ({str(e).strip().splitlines()[0][:120]})") from None
    return LoadedRun(model.eval(), ema_G, config, int(ckpt["step"]))
