"""trainer.eval_every: gan-eval's metrics on the fly, logged to TensorBoard and metrics.json, best.pt kept.

Evaluation must not change training: it runs under a forked RNG (the training RNG streams continue
exactly as without it), samples through `sampling_mode` (BN running stats and counters untouched) and
uses the EMA generator when there is one, as the final evaluation does.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import torch

from gan_runner.errors import ConfigError

if TYPE_CHECKING:  # the records come in through periodic_options' caller; only the type is named here
    from gan_runner.metrics.registry import MetricRecord


def better(value: str, new: float, old: float | None, higher: bool | None = None) -> bool:
    """Whether `new` beats `old` for reported `value` (NaN never does); `higher`: its direction, else its metric's record."""
    if new != new:  # NaN
        return False
    if old is None or old != old:
        return True
    if higher is None:
        # Only callers that did not resolve the direction up front land here; importing the metrics here (not at
        # the top) keeps the trainer, which imports this module, free of the metric modules and what they import.
        from gan_runner.metrics.registry import higher_is_better  # the package's import registers every record

        higher = higher_is_better(value)
    return new > old if higher else new < old


@dataclass
class PeriodicEvalOptions:
    """The `eval` section's share for evaluation during training."""

    every: int  # trainer.eval_every; 0 = off
    metrics: list[str]
    num: int
    best: str | None  # reported value that picks checkpoints/best.pt (None: no best.pt)
    higher_is_better: bool | None = None  # best's direction, from its metric's record (None: look it up)


def periodic_options(every: Any, ecfg: Mapping[str, Any], default_metrics: list[str],
                     check: Callable[[list[str]], list[str]],
                     record: Callable[[str], MetricRecord]) -> PeriodicEvalOptions:
    """Validate trainer.eval_every and eval.periodic/periodic_num/best (one clear line for each bad value)."""
    # trainer.eval_every and the eval section's types and ranges are config_schema's (TrainerConfig, EvalConfig)
    metrics = ecfg["periodic"]
    metrics = default_metrics if metrics in (None, "auto") else check([str(m) for m in metrics])
    num = int(ecfg["periodic_num"])  # its type and range: config_schema.EvalConfig (validated by the caller)
    best = ecfg["best"]
    if every and not metrics:
        raise ConfigError("trainer.eval_every is on but no metric applies to this run: set eval.periodic, e.g. [fid]")
    if best == "auto":
        best = None if not metrics else record(metrics[0]).main_value
    best = None if best in (None, "none") else str(best)
    reported = [v for m in metrics for v in record(m).reports]
    if every and best is not None and best.split("[", 1)[0] not in reported:
        raise ConfigError(f"eval.best={best} is not among the reported values ({', '.join(reported)}); pick one of them")
    higher = None if best is None else any(best in record(m).higher_is_better for m in metrics)
    return PeriodicEvalOptions(every, metrics, num, best, higher)


def best_key(best: str, results: Mapping[str, float]) -> str:
    """The results key eval.best names: itself, or its feature-space-tagged form ('fid' -> 'fid[inception]')."""
    if best in results:
        return best
    keys = [k for k in results if k.split("[", 1)[0] == best]
    if len(keys) != 1:
        raise ConfigError(f"eval.best={best} is not among the reported values ({', '.join(sorted(results))}); "
                          "pick one of them")
    return keys[0]


@dataclass
class PeriodicEval:
    """Runs the metrics every `every` steps; remembers the history and the best value."""

    opts: PeriodicEvalOptions
    evaluate: Callable[[int], dict[str, float]]  # step -> results (the trainer's generator, its dataset)
    history: list[dict[str, float]] = field(default_factory=list)
    best_value: float | None = None
    best_step: int | None = None
    seconds: float = 0.0
    space_tag: Callable[[], str | None] = lambda: None  # the feature space's tag after an evaluation ('mnist_5k-clf')
    feature_space: str | None = None  # the tag of the last evaluation's space (metrics.json periodic_eval.feature_space)

    def due(self, step: int) -> bool:
        """Whether this step is an evaluation step."""
        return self.opts.every > 0 and step % self.opts.every == 0

    def __call__(self, step: int, device: torch.device, time_s: float | None = None) -> tuple[dict[str, float], bool]:
        """Evaluate now (`time_s`: the run's training seconds so far, for curves against wall time).

        Returns (results, whether they are the best so far by opts.best). Keys are plain in the `auto` space, which
        `feature_space` names (metrics.json periodic_eval.feature_space), and tagged in any other ('fid[inception]').
        """
        t0 = time.perf_counter()
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # the training RNG continues as if nothing ran
            results = self.evaluate(step)
        self.seconds += time.perf_counter() - t0
        self.history.append({"step": step, **({} if time_s is None else {"time_s": round(time_s, 3)}), **results})
        is_best = False
        if self.opts.best is not None:
            key = best_key(self.opts.best, results)
            if better(self.opts.best, results[key], self.best_value, self.opts.higher_is_better):
                self.best_value, self.best_step, is_best = results[key], step, True
        self.feature_space = self.space_tag()
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
                "feature_space": self.feature_space,
                "best": None if self.best_step is None else
                {"metric": self.opts.best, "value": self.best_value, "step": self.best_step, "checkpoint": "checkpoints/best.pt"},
                "eval_time_s": round(self.seconds, 3)}
