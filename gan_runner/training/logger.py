"""Run statistics: accumulated on the device, flushed every `log_every` steps to TensorBoard and the console.

Accumulating device tensors and reading them back once per interval means one host sync per log,
not one per step (a per-step `.item()` stalls a GPU pipeline).
"""
from __future__ import annotations

import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch
import yaml
from torch.utils.tensorboard import SummaryWriter

from gan_runner.progress import format_duration
from gan_runner.training.hparams import LOSS_TAGS, end_summary, metric_tags, run_hparams, run_overrides, start_summaries, swept_keys

# TensorBoard's Custom Scalars tab, one unit per chart (tags are regular expressions). The final evaluation
# (eval_final/*) shares its metric's chart with the periodic one: same unit, one extra point at the last step.
# Losses and D's outputs are in the run's loss family's units: the BCE family (ns, minimax) writes loss/d and D/real,
# every other family tags them (loss/d[wgan], D/real[hinge]) and gets charts of its own (layout_for).
_EVAL = "eval(_final)?/"
CUSTOM_SCALARS = {
    "training": {
        "losses of G and D (ns, minimax: nats)": ["Multiline", ["^loss/[dg]$"]],
        "D(x) and D(G(z)) (ns, minimax: probabilities)": ["Multiline", ["^D/(real|fake)$"]],
        "Wasserstein estimate": ["Multiline", ["^wasserstein$"]],
        "gradient norms": ["Multiline", ["^grad_norm/", "^gp/grad_norm$"]],
        "penalties": ["Multiline", ["^gp/penalty$", "^r[12]/grad_sq$"]],
        "learning rates": ["Multiline", ["^lr/"]],
        "class and code cross-entropy (nats)": ["Multiline", ["^aux/class_ce", "^info/cat_ce$"]],
        "continuous code error (MSE)": ["Multiline", ["^info/cont_mse$"]],
        "auxiliary and code accuracies": ["Multiline", ["^aux/class_acc", "^info/cat_acc$"]],
    },
    "evaluation": {
        "FID": ["Multiline", [f"^{_EVAL}fid(\\[|$)"]],
        "KID": ["Multiline", [f"^{_EVAL}kid(_std)?(\\[|$)"]],
        "precision, recall, density, coverage": ["Multiline", [f"^{_EVAL}(precision|recall|density|coverage)(\\[|$)"]],
        "Inception Score": ["Multiline", [f"^{_EVAL}is(_std|_real)?(\\[|$)"]],
        "modes covered (ring8, grid25)": ["Multiline", [f"^{_EVAL}modes(_total)?$"]],
        "high-quality samples (%)": ["Multiline", [f"^{_EVAL}hq_percent$"]],
        "KL to the modes' distribution (nats)": ["Multiline", [f"^{_EVAL}(reverse_kl|stacked_kl)$"]],
        "Stacked MNIST modes (of 1000)": ["Multiline", [f"^{_EVAL}stacked_modes$"]],
        "class accuracy and purity": ["Multiline", [f"^{_EVAL}(class_accuracy|purity|stacked_digit_acc)(\\[|$)"]],
        "Parzen log-likelihood (nats)": ["Multiline", [f"^{_EVAL}parzen_(ll|se)$"]],
    },
    "throughput": {
        "G steps per second": ["Multiline", ["^perf/steps_per_s$"]],
        "images per second (n_critic D batches + one G batch per step)": ["Multiline", ["^perf/images_per_s$"]],
    },
}

_FAMILY_TAG = re.compile(r"^(loss/[dg]|D/(real|fake))\[(?P<family>[^\]]+)\]$")


def family_charts(family: str) -> dict[str, list]:
    """The loss and D-output charts of one loss family other than BCE's (tags loss/d[FAMILY], ...)."""
    f = re.escape(family)
    return {f"losses of G and D [{family}] (its own units)": ["Multiline", [f"^loss/[dg]\\[{f}\\]$"]],
            f"D(x) and D(G(z)) [{family}] (raw outputs)": ["Multiline", [f"^D/(real|fake)\\[{f}\\]$"]]}


def layout_for(tags: list[str]) -> dict[str, dict[str, list]]:
    """CUSTOM_SCALARS plus the run's loss family's charts, without the charts none of `tags` would fill.

    TensorBoard merges the runs' layouts (same category title: charts appended, duplicates skipped), so a sweep over
    losses gets one pair of charts per family, each in one unit.
    """
    families = sorted({m["family"] for t in tags if (m := _FAMILY_TAG.match(t))})
    charts_by_cat = {cat: dict(charts) for cat, charts in CUSTOM_SCALARS.items()}
    for family in families:
        charts_by_cat["training"].update(family_charts(family))
    layout = {cat: {title: chart for title, chart in charts.items()
                    if any(re.search(rx, t) for rx in chart[1] for t in tags)} for cat, charts in charts_by_cat.items()}
    return {cat: charts for cat, charts in layout.items() if charts}


# Shown on the console progress line, in this order, when present.
CONSOLE_KEYS = ("loss/d", "loss/g", "D/real", "D/fake")  # unless the run's loss names its own (AdversarialLoss.console_keys)


class RunLogger:
    """TensorBoard writer under RUN_DIR/tb plus a console progress line with rate and ETA."""

    def __init__(self, run_dir: Path, max_steps: int, start_step: int, max_time: float | None,
                 batch_size: int, quiet: bool = False, console_keys: tuple[str, ...] = CONSOLE_KEYS) -> None:
        # On resume, drop events logged after the checkpoint (a crashed run's tail): TensorBoard
        # purges steps >= purge_step, and the checkpoint's own step is valid.
        self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=start_step + 1 if start_step else None)
        self.max_steps, self.max_time, self.batch_size = max_steps, max_time, batch_size
        self.quiet, self.console_keys = quiet, tuple(console_keys)
        self.t0 = self.t_last = time.monotonic()
        self.step_last = self.start_step = start_step
        self.tty = sys.stdout.isatty()
        self.eval_tags: list[str] = []  # this run's evaluation tags (hparams), for the custom-scalars layout
        self.layout_written = False

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
        if not self.layout_written:  # the first log names every statistic the loss and model report
            self.writer.add_custom_scalars(layout_for([*values, *self.eval_tags]))
            self.layout_written = True
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
        # the family tag (loss/d[wgan]) is the run's loss, already known: the console shows the short name
        parts = " ".join(f"{k.split('[')[0]}={values[k]:.3f}" for k in self.console_keys if k in values)
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

    def hparams(self, run_dir: Path, config: Mapping[str, Any], final_metrics: list[str], periodic_metrics: list[str],
                *, loss_tags: tuple[str, ...] = LOSS_TAGS, space_tags: tuple[str, str] | None = None) -> None:
        """The HParams tab's columns and this run's values (training/hparams.py); config and overrides to the Text tab."""
        overrides = run_overrides(run_dir)
        params = run_hparams(config, overrides, swept_keys(run_dir))
        fw = self.writer._get_file_writer()
        tagged = {"loss_tags": loss_tags, "space_tags": space_tags}
        self.eval_tags = metric_tags(final_metrics, periodic_metrics, only_own=True, **tagged)
        for summary in start_summaries(params, metric_tags(final_metrics, periodic_metrics, **tagged)):
            fw.add_summary(summary, self.start_step)
        # Markdown: a four-space indent renders as a code block, so YAML keeps its layout in the Text tab
        self.writer.add_text("run/overrides", "    " + (" ".join(overrides) or "(none: the defaults)"), self.start_step)
        text = yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False)
        self.writer.add_text("run/config", "\n".join("    " + line for line in text.splitlines()), self.start_step)

    @contextmanager
    def closed_on_error(self) -> Iterator[None]:
        """Around the training loop: an exception ends the log as `failed` (a second Ctrl-C as `interrupted`)."""
        try:
            yield
        except BaseException as e:
            self.close("interrupted" if isinstance(e, KeyboardInterrupt) else "failed")
            raise

    def close(self, status: str = "completed") -> None:
        """Write how the run ended (HParams session status; Text tab run/status); flush and close; end the progress line."""
        if self.tty and not self.quiet:
            print()
        self.writer._get_file_writer().add_summary(end_summary(status), self.step_last)
        self.writer.add_text("run/status", status, self.step_last)
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

    def hparams(self, run_dir: Path, config: Mapping[str, Any], final_metrics: list[str], periodic_metrics: list[str],
                **tagged: Any) -> None:
        """Nothing."""

    @contextmanager
    def closed_on_error(self) -> Iterator[None]:
        """Nothing to close."""
        yield

    def close(self, status: str = "completed") -> None:
        """Nothing."""
