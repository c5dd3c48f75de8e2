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


def all_finite(modules: list[torch.nn.Module]) -> bool:
    """True when every parameter of `modules` is finite (one host sync; used before checkpointing)."""
    params = [p.detach() for m in modules for p in m.parameters()]
    if not params:
        return True
    return bool(torch.isfinite(torch.stack(torch._foreach_norm(params))).all())
