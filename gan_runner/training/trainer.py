"""The one training loop: a loop over phases (n_critic D steps, then one G step), for any model, loss and data.

Everything variant-specific lives in the phases' objectives (training/phases.py, stabilizers/), behind
`GANModel` (latents, auxiliary terms, grids) and `AdversarialLoss`; pictures come from a renderer chosen
for the data at build time. This file never asks which model, loss, stabilizer or data kind it runs.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from PIL import Image

from gan_runner.atomic import save_atomic
from gan_runner.checkpoint import BEST, CKPT_DIR, FORMAT_VERSION, LAST, data_spec_record, load_newest_good, rng_state
from gan_runner.config_schema import TrainerConfig
from gan_runner.data.base import BatchStream
from gan_runner.ema import EMA
from gan_runner.errors import UserError
from gan_runner.generation.grids import sampling_mode
from gan_runner.models.base import GANModel
from gan_runner.stats import StatsAccumulator
from gan_runner.training import distributed
from gan_runner.training.distributed import Ranks
from gan_runner.training.guards import StopSignals, all_finite, blown_up, divergence_reason
from gan_runner.training.hparams import LOSS_TAGS
from gan_runner.training.logger import CONSOLE_KEYS, NullLogger, RunLogger
from gan_runner.training.periodic_eval import PeriodicEval
from gan_runner.training.phases import Phase


def grad_norm(params: list[torch.nn.Parameter]) -> torch.Tensor:
    """L2 norm of all gradients together, as a device tensor (no host sync)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


class Trainer:
    """Owns the training state and runs the loop; `state_dict` is exactly what a checkpoint holds."""

    def __init__(self, *, model: GANModel, phases: Sequence[Phase], stream: BatchStream,
                 opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                 sched_g: torch.optim.lr_scheduler.LRScheduler, sched_d: torch.optim.lr_scheduler.LRScheduler,
                 ema: EMA | None, opts: TrainerConfig, run_dir: Path, device: torch.device,
                 config: dict[str, Any], seed: int, render: Callable[..., torch.Tensor],
                 ranks: Ranks | None = None, periodic: PeriodicEval | None = None,
                 eval_names: Sequence[str] = (), console_keys: Sequence[str] = CONSOLE_KEYS) -> None:
        self.model, self.phases, self.stream = model, tuple(phases), stream
        self.opt_g, self.opt_d, self.sched_g, self.sched_d = opt_g, opt_d, sched_g, sched_d
        self.ema, self.opts, self.run_dir, self.device = ema, opts, run_dir, device
        self.config, self.seed = config, seed
        self.render = render  # (samples, nrow, latent) -> uint8 (C, H, W) picture: a labelled image grid or a 2D scatter
        self.ranks = ranks or Ranks()  # torchrun: this process's rank; rank 0 alone writes the run dir
        self.periodic = periodic  # trainer.eval_every's evaluator, or None
        self.console_keys = tuple(console_keys)  # the statistics the loss says are worth the progress line
        self.eval_names = tuple(eval_names)  # end-of-training metrics; listed in the HParams tab
        self.step = 0
        self.plugins: list[dict[str, Any]] = []  # plugins that registered what this run uses (gan_runner.plugins)
        # HParams columns named as this run writes them: its loss family's statistics, its eval space's tags
        self.loss_tags: tuple[str, ...] = LOSS_TAGS
        self.space_tags: tuple[str, str] | None = None
        self.elapsed = 0.0  # training seconds before this process (resumed runs)
        self.rollbacks: list[dict[str, Any]] = []
        self.bf16 = opts.precision == "bf16"
        # Fixed latents from their own CPU generator: the same grids on any device, at every step.
        gen = torch.Generator().manual_seed(seed + 1)
        self.grid_latents = {k: (lat.to(device), nrow)
                             for k, (lat, nrow) in model.grid_latents(opts.grid_size, "cpu", gen).items()}

    # ----------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """A plain dict of tensors and primitives: loadable with torch.load(weights_only=True).

        Under torchrun it gathers every rank's RNG state (rng_ranks), so every rank must call it.
        """
        rng_ranks = distributed.gather(rng_state(), self.ranks) if self.ranks.enabled else None
        return {
            "format": FORMAT_VERSION,
            "step": self.step,
            "elapsed": self.elapsed + (time.monotonic() - self._t0 if hasattr(self, "_t0") else 0.0),
            "G": self.model.G.state_dict(),
            "D": self.model.D.state_dict(),
            "G_ema": self.ema.state_dict() if self.ema else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "stream": self.stream.state_dict(),
            "rng": rng_state(),
            "config": self.config,
            "spec": data_spec_record(self.model.spec),  # the data's shapes: loading a run for sampling reads no data
            **({"rng_ranks": rng_ranks} if rng_ranks is not None else {}),  # each rank's noise: exact data-parallel resume
            "periodic_eval": self.periodic.state_dict() if self.periodic else None,
            "plugins": self.plugins,  # what gan-sample/gan-eval need loaded to rebuild the model (never imported from here)
        }

    def load_state_dict(self, ckpt: dict[str, Any]) -> None:
        """Restore everything `state_dict` saved."""
        self.model.G.load_state_dict(ckpt["G"])
        self.model.D.load_state_dict(ckpt["D"])
        if self.ema is not None and ckpt.get("G_ema") is not None:
            self.ema.load_state_dict(ckpt["G_ema"])
        self.opt_g.load_state_dict(ckpt["opt_g"])
        self.opt_d.load_state_dict(ckpt["opt_d"])
        self.sched_g.load_state_dict(ckpt["sched_g"])
        self.sched_d.load_state_dict(ckpt["sched_d"])
        self.stream.load_state_dict(ckpt["stream"])
        distributed.restore_rng(ckpt, self.ranks, self.seed)
        self.step = int(ckpt["step"])
        if self.periodic is not None and ckpt.get("periodic_eval"):
            self.periodic.load_state_dict(ckpt["periodic_eval"])
        self.elapsed = float(ckpt.get("elapsed", 0.0))

    def save(self) -> Path:
        """Write checkpoints/step_N.pt and point last.pt at it (both atomic; a hard link, not a copy).

        Every rank of a data-parallel run calls this (it gathers their RNG states); rank 0 writes.
        """
        ckpt_dir = self.run_dir / CKPT_DIR
        path = ckpt_dir / f"step_{self.step:07d}.pt"
        state = self.state_dict()
        if not self.ranks.is_main:
            return path
        try:
            save_atomic(state, path)
        except OSError as e:  # full disk, permissions (torch.save's RuntimeError arrives as one): the previous checkpoint is untouched
            kept = "the previous checkpoint is intact" if (ckpt_dir / LAST).exists() else "no checkpoint was written before"
            raise UserError(f"could not write checkpoint {path}: {e.strerror or e}; {kept}") from None
        tmp = ckpt_dir / f".{LAST}.{os.getpid()}.link"  # one per process: two writers never share it
        tmp.unlink(missing_ok=True)
        try:
            os.link(path, tmp)
            os.replace(tmp, ckpt_dir / LAST)
        except OSError:  # filesystems without hard links
            tmp.unlink(missing_ok=True)
            try:
                save_atomic(state, ckpt_dir / LAST)
            except OSError as e:
                raise UserError(f"could not write checkpoint {ckpt_dir / LAST}: {e.strerror or e}; {path} is complete") from None
        return path

    # ------------------------------------------------------------------------------------ loop
    def run_phase(self, phase: Phase, stats: StatsAccumulator, log: bool) -> None:
        """One optimizer step of `phase`: batch, objective, backward, all-reduce, step, after-step hooks."""
        if phase.frozen is not None:
            phase.frozen.requires_grad_(False)  # no weight gradients for it in this phase (D during G's step)
        with self.autocast():
            loss = phase.objective(phase.make_batch(), self.step, stats)
        phase.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        distributed.average_grads(phase.params, self.ranks)
        if phase.frozen is not None:
            phase.frozen.requires_grad_(True)
        if log:  # before clipping: the dashboard shows how far above the threshold the gradients were
            stats.report(f"grad_norm/{phase.name.lower()}", grad_norm(phase.params))
        if phase.clip_grad_norm is not None:  # after the all-reduce: every rank clips the same averaged gradient
            torch.nn.utils.clip_grad_norm_(phase.params, phase.clip_grad_norm)
        phase.optimizer.step()
        for hook in phase.after_step:
            hook()

    def autocast(self) -> torch.autocast:
        """bf16 autocast when trainer.precision=bf16 (a no-op context otherwise)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def iteration(self, stats: StatsAccumulator, log: bool) -> None:
        """Every phase in order, each its `repeats` times (n_critic D updates, then one G update)."""
        self.model.begin_step(self.step)  # schedules: annealed instance noise
        for phase in self.phases:
            for _ in range(phase.repeats):
                self.run_phase(phase, stats, log)

    def train(self) -> dict[str, Any]:
        """Run until max_steps G steps, max_time seconds, a stop signal or divergence; returns final figures."""
        o = self.opts
        logger = (RunLogger(self.run_dir, o.max_steps, self.step, o.max_time, self.stream.batch_size * self.ranks.world_size, o.quiet,
                            self.console_keys)
                  if self.ranks.is_main else NullLogger())
        logger.hparams(self.run_dir, self.config, list(self.eval_names), self.periodic.opts.metrics if self.periodic else [],
                       loss_tags=self.loss_tags, space_tags=self.space_tags)
        stats = StatsAccumulator()
        self.model.train()
        self._t0 = t0 = time.monotonic()
        start_step = self.step
        eval_s0 = self.periodic.seconds if self.periodic else 0.0
        last: dict[str, float] = {}
        status, stopped_by, reason = "completed", "max_steps", None
        with StopSignals() as signals, logger.closed_on_error():  # HParams status failed if the loop raises
            while self.step < o.max_steps:
                stop = self.stop_request(signals.received, t0)
                if stop is not None:
                    status, stopped_by = stop
                    break
                log = (self.step + 1) % o.log_every == 0 or self.step + 1 == o.max_steps
                self.iteration(stats, log)
                self.sched_g.step()
                self.sched_d.step()
                self.step += 1
                problem = None
                if log:
                    values = stats.pop()
                    values["lr/g"], values["lr/d"] = self.sched_g.get_last_lr()[0], self.sched_d.get_last_lr()[0]
                    logged = logger.scalars(self.step, values, o.n_critic)  # NaNs too: the dashboard shows the blow-up
                    problem = divergence_reason(values, o.max_grad_norm)
                    if problem is None:
                        last = logged
                if problem is None and self.step % o.ckpt_every == 0 and not all_finite([self.model.G, self.model.D]):
                    problem = "non-finite weights"  # never checkpoint a broken model
                if self.ranks.enabled and (log or self.step % o.ckpt_every == 0):
                    problem = distributed.first_reason(problem, self.ranks)  # one rank's NaN stops (or rolls back) all
                if problem is not None:
                    if self.rollback(problem, logger):
                        stats.pop()
                        continue
                    status, stopped_by, reason = "diverged", "divergence", f"step {self.step}: {problem}"
                    break
                if self.step % o.sample_every == 0:
                    self.write_grids(logger)
                if self.periodic is not None and self.periodic.due(self.step):
                    self.evaluate_now(logger)
                if self.step % o.ckpt_every == 0:
                    self.save()
        train_s = time.monotonic() - t0
        busy_s = train_s - ((self.periodic.seconds if self.periodic else 0.0) - eval_s0)  # throughput without evaluations
        if status != "diverged":
            if self.step % o.sample_every:
                self.write_grids(logger)
            self.save()
        logger.close(status)
        steps = self.step - start_step
        metrics: dict[str, Any] = {
            "status": status,
            "stopped_by": stopped_by,
            "step": self.step,
            "max_steps": o.max_steps,
            "train_time_s": round(self.elapsed + train_s, 3),
            "steps_per_s": round(steps / max(busy_s, 1e-9), 3),
            "images_per_s": round(steps * self.stream.batch_size * self.ranks.world_size * (o.n_critic + 1) / max(busy_s, 1e-9), 1),
            "final": {k: round(v, 6) for k, v in last.items()},
            "rollbacks": self.rollbacks,
            "precision": o.precision,
            **({"periodic_eval": self.periodic.summary()} if self.periodic else {}),
            "world_size": self.ranks.world_size,
        }
        if reason:
            metrics["reason"] = reason
        if stopped_by.startswith("signal "):
            metrics["signal"] = int(stopped_by.split()[1])
        return metrics

    def evaluate_now(self, logger: RunLogger) -> None:
        """trainer.eval_every: metrics to TensorBoard; the best generator so far to checkpoints/best.pt."""
        assert self.periodic is not None
        t0 = time.perf_counter()
        # training seconds, evaluations excluded (elapsed and _t0 are time.monotonic, like every run-time clock here)
        so_far = self.elapsed + time.monotonic() - self._t0 - self.periodic.seconds
        results, is_best = self.periodic(self.step, self.device, so_far) if self.ranks.is_main else ({}, False)
        if self.ranks.enabled:  # rank 0 evaluated; every rank joins state_dict's RNG gather when best.pt is due
            is_best = any(distributed.gather(is_best, self.ranks))
        if is_best:
            state = self.state_dict()
            try:
                if self.ranks.is_main:
                    save_atomic(state, self.run_dir / CKPT_DIR / BEST)
            except OSError as e:
                raise UserError(f"could not write {BEST}: {e.strerror or e}; the previous one is intact") from None
        logger.evaluation(self.step, results, time.perf_counter() - t0)

    def stop_request(self, signal: int | None, t0: float) -> tuple[str, str] | None:
        """(status, stopped_by) when the loop should stop before the next step (a signal, max_time), else None.

        Data-parallel ranks decide together at log boundaries (one small all-gather per interval):
        a signal or a clock on one rank stops every rank at the same step, so none waits forever.
        """
        o = self.opts
        stop = None
        if signal is not None:
            stop = ("interrupted", f"signal {signal}")
        elif o.max_time is not None and self.elapsed + time.monotonic() - t0 >= o.max_time:
            stop = ("completed", "max_time")
        if self.ranks.enabled:
            stop = next((s for s in distributed.gather(stop, self.ranks) if s), None) if self.step % o.log_every == 0 else None
        return stop

    def rollback(self, problem: str, logger: RunLogger) -> bool:
        """Policy 'rollback': reload the newest good checkpoint with lower learning rates (bounded times)."""
        o = self.opts
        if o.on_divergence != "rollback" or len(self.rollbacks) >= o.max_rollbacks:
            return False
        # the newest checkpoint with finite, bounded weights (guards.blown_up): one saved while the blow-up had begun
        # would fail every retry; checkpoints are only written after a step whose logged losses were finite
        found = load_newest_good(self.run_dir, map_location=self.device, reject=blown_up)
        if found is None:
            return False
        ckpt, path, _ = found
        bad_step = self.step
        self.load_state_dict(ckpt)
        logger.rewind(self.step)  # a new event file from the restored step: TensorBoard drops the rolled-back steps
        scale = o.rollback_lr_factor ** (len(self.rollbacks) + 1)
        for sched in (self.sched_g, self.sched_d):
            sched.base_lrs = [lr * scale for lr in sched.base_lrs]
            for group, lr in zip(sched.optimizer.param_groups, sched.get_last_lr()):
                group["lr"] = lr * scale
        self.rollbacks.append({"at_step": bad_step, "to_step": self.step, "reason": problem, "lr_scale": scale,
                               "checkpoint": path.name})
        if not o.quiet and self.ranks.is_main:
            print(f"\nwarning: {problem} at step {bad_step}; rolled back to step {self.step} with learning rates x{scale:g}")
        return True

    def write_grids(self, logger: RunLogger) -> None:
        """Sample grids from the fixed latents (EMA generator when on) to TensorBoard and samples/."""
        if not self.ranks.is_main:
            return
        G = self.ema.module if self.ema is not None else self.model.G
        out_dir = self.run_dir / "samples"
        out_dir.mkdir(exist_ok=True)
        with sampling_mode(G):
            for name, (latent, nrow) in self.grid_latents.items():
                img = self.render(G(latent), nrow, latent)  # class / code rows say which in the picture
                logger.image(f"samples/{name}", img, self.step)
                Image.fromarray(img.permute(1, 2, 0).squeeze(2).numpy()).save(out_dir / f"{name}_{self.step:07d}.png")

