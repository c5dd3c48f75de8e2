"""Things that protect a run: signal handling (checkpoint, then exit) and the divergence watchdog."""
from __future__ import annotations

import math
import signal
import threading
from types import FrameType
from typing import Mapping

import torch


class StopSignals:
    """Context manager: the first SIGINT/SIGTERM asks the loop to stop after the current step.

    The loop then writes a checkpoint and exits cleanly; the handler is reset to the default on the
    first signal, so a second Ctrl-C ends the process at once. Only active in the main thread.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        signal.signal(signum, signal.SIG_DFL)

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)  # type: ignore[arg-type]


def divergence_reason(values: Mapping[str, float], max_grad_norm: float | None) -> str | None:
    """Why logged statistics say training diverged (non-finite value, exploding gradient), or None."""
    for key, v in values.items():
        if not math.isfinite(v):
            return f"{key} is {v} (non-finite)"
    if max_grad_norm is not None:
        for key, v in values.items():
            if key.startswith("grad_norm/") and v > max_grad_norm:
                return f"{key} = {v:.3g} exceeds trainer.max_grad_norm={max_grad_norm:g}"
    return None


# Rollback targets: a checkpoint whose G and D weights are all finite and at most this large in magnitude.
# Trained GAN weights stay within ~10^2; a run blowing up passes 10^4 long before inf (1e9 was seen).
MAX_ROLLBACK_WEIGHT = 1e4


def blown_up(ckpt: Mapping[str, object]) -> str | None:
    """Why a checkpoint is no rollback target (non-finite or huge G/D weights), or None when it is one."""
    for net in ("G", "D"):
        state = ckpt.get(net)
        for name, t in (state.items() if isinstance(state, dict) else ()):
            if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel():
                biggest = float(t.detach().abs().max())
                if not math.isfinite(biggest) or biggest > MAX_ROLLBACK_WEIGHT:
                    return f"{net}.{name} has weights of {biggest:.3g} (bound {MAX_ROLLBACK_WEIGHT:g})"
    return None


def all_finite(modules: list[torch.nn.Module]) -> bool:
    """True when every parameter of `modules` is finite (one host sync; used before checkpointing)."""
    params = [p.detach() for m in modules for p in m.parameters()]
    if not params:
        return True
    return bool(torch.isfinite(torch.stack(torch._foreach_norm(params))).all())
