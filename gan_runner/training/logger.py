"""Run statistics: accumulated on the device, flushed every `log_every` steps to TensorBoard and the console.

Accumulating device tensors and reading them back once per interval means one host sync per log,
not one per step (a per-step `.item()` stalls a GPU pipeline).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Mapping

import torch
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from gan_runner.progress import format_duration
from gan_runner.stats import StatsAccumulator  # noqa: F401  (the trainer's accumulator, logged here)

# TensorBoard's Custom Scalars tab: related curves on one chart (tags are regular expressions).
CUSTOM_SCALARS = {
    "GAN": {
        "losses of G and D": ["Multiline", ["loss/d", "loss/g"]],
        "D(x) vs D(G(z))": ["Multiline", ["D/real", "D/fake"]],
        "gradient norms": ["Multiline", ["grad_norm/d", "grad_norm/g"]],
        "learning rates": ["Multiline", ["lr/g", "lr/d"]],
    },
    "metrics": {"evaluation": ["Multiline", ["eval/.*"]], "throughput": ["Multiline", ["perf/.*"]]},
}

# Shown on the console progress line, in this order, when present.
CONSOLE_KEYS = ("loss/d", "loss/g", "D/real", "D/fake", "wasserstein")


class RunLogger:
    """TensorBoard writer under RUN_DIR/tb plus a console progress line with rate and ETA."""

    def __init__(self, run_dir: Path, max_steps: int, start_step: int, max_time: float | None,
                 batch_size: int, quiet: bool = False) -> None:
        # On resume, drop events logged after the checkpoint (a crashed run's tail): TensorBoard
        # purges steps >= purge_step, and the checkpoint's own step is valid.
        self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=start_step + 1 if start_step else None)
        self.max_steps, self.max_time, self.batch_size = max_steps, max_time, batch_size
        self.quiet = quiet
        self.t0 = self.t_last = time.monotonic()
        self.step_last = self.start_step = start_step
        self.tty = sys.stdout.isatty()
        self.writer.add_custom_scalars(CUSTOM_SCALARS)

    def rewind(self, step: int) -> None:
        """After a rollback to `step`: a new event file whose purge_step drops the steps logged after it."""
        log_dir = self.writer.log_dir
        self.writer.close()
        self.writer = SummaryWriter(log_dir, purge_step=step + 1)
        self.step_last = step

    def scalars(self, step: int, values: Mapping[str, float], n_critic: int) -> dict[str, float]:
        """Write scalars plus throughput; print the progress line. Returns what was written."""
        now = time.monotonic()
        steps = step - self.step_last
        rate = steps / max(now - self.t_last, 1e-9)
        values = {**values, "perf/steps_per_s": rate, "perf/images_per_s": rate * self.batch_size * (n_critic + 1)}
        for k, v in values.items():
            self.writer.add_scalar(k, v, step)
        self.t_last, self.step_last = now, step
        if not self.quiet:
            self._progress(step, values)
        return values

    def _progress(self, step: int, values: Mapping[str, float]) -> None:
        elapsed = time.monotonic() - self.t0
        done = max(step - self.start_step, 1)
        eta = elapsed / done * (self.max_steps - step)
        if self.max_time:
            eta = min(eta, max(0.0, self.max_time - elapsed))
        pct = 100 * step / self.max_steps
        parts = " ".join(f"{k}={values[k]:.3f}" for k in CONSOLE_KEYS if k in values)
        line = (f"step {step}/{self.max_steps} {pct:3.0f}% | {values['perf/steps_per_s']:.1f} it/s | "
                f"elapsed {format_duration(elapsed)} ETA {format_duration(eta)} | {parts}")
        print(("\r" + line + "\033[K") if self.tty else line, end="" if self.tty else "\n", flush=True)

    def image(self, tag: str, img: torch.Tensor, step: int) -> None:
        """Write a uint8 (C, H, W) picture."""
        self.writer.add_image(tag, img, step)

    def evaluation(self, step: int, results: Mapping[str, float], seconds: float) -> None:
        """Write eval/NAME scalars from trainer.eval_every; the time it took is left out of the throughput figures."""
        for k, v in results.items():
            self.writer.add_scalar(f"eval/{k}", v, step)
        self.t_last += seconds
        self.t0 += seconds
        if not self.quiet:
            text = " ".join(f"{k}={v:.4g}" for k, v in results.items())
            print(f"{chring(self.tty)}eval at step {step} ({seconds:.1f} s): {text}", flush=True)

    def hparams(self, params: Mapping[str, Any], metric_tags: list[str]) -> None:
        """Register the run's hyperparameters with the HParams tab; metrics are the listed scalar tags."""
        flat = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in params.items()}
        exp, ssi, sei = hparams(flat, {tag: 0.0 for tag in metric_tags})
        fw = self.writer._get_file_writer()
        for summary in (exp, ssi, sei):
            fw.add_summary(summary)

    def close(self) -> None:
        """Flush and close; end the progress line."""
        if self.tty and not self.quiet:
            print()
        self.writer.close()


def chring(tty: bool) -> str:
    """Prefix that ends an in-place progress line before printing a full line."""
    return "\n" if tty else ""


class NullLogger:
    """What ranks > 0 of a data-parallel run log: nothing (rank 0's RunLogger writes the run dir)."""

    def scalars(self, step: int, values: Mapping[str, float], n_critic: int) -> dict[str, float]:
        """The values, unwritten."""
        return dict(values)

    def image(self, tag: str, img: torch.Tensor, step: int) -> None:
        """Nothing."""

    def rewind(self, step: int) -> None:
        """Nothing."""

    def evaluation(self, step: int, results: Mapping[str, float], seconds: float) -> None:
        """Nothing."""

    def hparams(self, params: Mapping[str, Any], metric_tags: list[str]) -> None:
        """Nothing."""

    def close(self) -> None:
        """Nothing."""
