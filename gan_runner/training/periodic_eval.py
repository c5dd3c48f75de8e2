"""trainer.eval_every: gan-eval's metrics on the fly, logged to TensorBoard and metrics.json, best.pt kept.

Evaluation must not change training: it runs under a forked RNG (the training RNG streams continue
exactly as without it), samples through `sampling_mode` (BN running stats and counters untouched) and
uses the EMA generator when there is one, as the final evaluation does.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from gan_runner.errors import ConfigError

#: metrics where a larger value is better; every other reported value is better smaller (fid, kid, KLs)
#: the values each metric reports (for checking eval.best before training; unlisted metrics are not checked)
REPORTS = {"fid": ["fid"], "kid": ["kid", "kid_std"], "is": ["is", "is_std", "is_real"], "pr": ["precision", "recall"],
           "dc": ["density", "coverage"], "parzen": ["parzen_ll", "parzen_se", "parzen_sigma"],
           "modes": ["modes", "modes_total", "hq_percent", "reverse_kl"], "class_acc": ["class_accuracy"],
           "purity": ["purity"], "stacked_modes": ["stacked_modes", "stacked_kl", "stacked_digit_acc"]}
HIGHER_IS_BETTER = {"is", "precision", "recall", "density", "coverage", "modes", "hq_percent", "class_accuracy",
                    "purity", "stacked_modes", "parzen_ll"}


def better(metric: str, new: float, old: float | None) -> bool:
    """Whether `new` beats `old` for `metric` (NaN never does)."""
    if new != new:  # NaN
        return False
    if old is None or old != old:
        return True
    return new > old if metric in HIGHER_IS_BETTER else new < old


@dataclass
class PeriodicEvalOptions:
    """The `eval` section's share for evaluation during training."""

    every: int  # trainer.eval_every; 0 = off
    metrics: list[str]
    num: int
    best: str | None  # reported value that picks checkpoints/best.pt (None: no best.pt)


def periodic_options(every: Any, ecfg: Mapping[str, Any], default_metrics: list[str],
                     check: Callable[[list[str]], list[str]]) -> PeriodicEvalOptions:
    """Validate trainer.eval_every and eval.periodic/periodic_num/best (one clear line for each bad value)."""
    if not isinstance(every, int) or isinstance(every, bool) or every < 0:
        raise ConfigError(f"trainer.eval_every must be an integer >= 0 (0 = off), got {every!r}")
    metrics = ecfg.get("periodic", "auto")
    metrics = default_metrics if metrics in (None, "auto") else check([str(m) for m in metrics])
    num = ecfg.get("periodic_num", 2000)
    if not isinstance(num, int) or isinstance(num, bool) or num < 2:
        raise ConfigError(f"eval.periodic_num must be an integer >= 2, got {num!r}")
    best = ecfg.get("best", "auto")
    if every and not metrics:
        raise ConfigError("trainer.eval_every is on but no metric applies to this run: set eval.periodic, e.g. [fid]")
    if best == "auto":
        best = None if not metrics else {"pr": "precision", "dc": "coverage", "parzen": "parzen_ll",
                                         "class_acc": "class_accuracy"}.get(metrics[0], metrics[0])
    best = None if best in (None, "none") else str(best)
    reported = [v for m in metrics for v in REPORTS.get(m, [])]
    if every and best is not None and all(m in REPORTS for m in metrics) and best not in reported:
        raise ConfigError(f"eval.best={best} is not among the reported values ({', '.join(reported)}); pick one of them")
    return PeriodicEvalOptions(every, metrics, num, best)


@dataclass
class PeriodicEval:
    """Runs the metrics every `every` steps; remembers the history and the best value."""

    opts: PeriodicEvalOptions
    evaluate: Callable[[int], dict[str, float]]  # step -> results (the trainer's generator, its dataset)
    history: list[dict[str, float]] = field(default_factory=list)
    best_value: float | None = None
    best_step: int | None = None
    seconds: float = 0.0

    def due(self, step: int) -> bool:
        """Whether this step is an evaluation step."""
        return self.opts.every > 0 and step % self.opts.every == 0

    def __call__(self, step: int, device: torch.device, time_s: float | None = None) -> tuple[dict[str, float], bool]:
        """Evaluate now (`time_s`: the run's training seconds so far, for curves against wall time).

        Returns (results, whether they are the best so far by opts.best).
        """
        t0 = time.perf_counter()
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # the training RNG continues as if nothing ran
            results = self.evaluate(step)
        self.seconds += time.perf_counter() - t0
        self.history.append({"step": step, **({} if time_s is None else {"time_s": round(time_s, 3)}), **results})
        is_best = False
        if self.opts.best is not None:
            if self.opts.best not in results:
                raise ConfigError(f"eval.best={self.opts.best} is not among the reported values "
                                  f"({', '.join(sorted(results))}); pick one of them")
            if better(self.opts.best, results[self.opts.best], self.best_value):
                self.best_value, self.best_step, is_best = results[self.opts.best], step, True
        return results, is_best

    def state_dict(self) -> dict[str, Any]:
        """History and best so far (checkpointed, so a resumed run keeps the right best.pt)."""
        # seconds too: a resumed run's elapsed time includes the earlier evaluations, which time_s leaves out
        return {"history": self.history, "best_value": self.best_value, "best_step": self.best_step,
                "seconds": self.seconds}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore `state_dict`."""
        self.history = list(state.get("history", []))
        self.best_value, self.best_step = state.get("best_value"), state.get("best_step")
        self.seconds = float(state.get("seconds", 0.0))

    def summary(self) -> dict[str, Any]:
        """What metrics.json records."""
        return {"every": self.opts.every, "metrics": self.opts.metrics, "num": self.opts.num, "history": self.history,
                "best": None if self.best_step is None else
                {"metric": self.opts.best, "value": self.best_value, "step": self.best_step, "checkpoint": "checkpoints/best.pt"},
                "eval_time_s": round(self.seconds, 3)}
