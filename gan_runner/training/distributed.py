"""Data-parallel training over torch.distributed, launched by torchrun: one process per device.

As in StyleGAN2-ADA, G and D are not wrapped in DistributedDataParallel: G's step freezes D and
gradient penalties need double backward, neither of which DDP's reducer handles. Instead every
rank starts from rank 0's weights and averages its gradients with the other ranks after each
backward, so weights and optimizer states stay identical everywhere. Batch norm statistics stay
per rank (no SyncBatchNorm); the checkpoint holds rank 0's. Rank 0 alone writes the run dir.
Without torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK) every function here is a no-op.
"""
from __future__ import annotations

import atexit
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.distributed as dist
from torch import nn

from gan_runner.checkpoint import set_rng_state
from gan_runner.errors import ConfigError

# How long a rank waits in a collective: rank 0 evaluates (trainer.eval_every) and writes checkpoints
# while the others wait, which can outlast NCCL's 10-minute default.
TIMEOUT = timedelta(minutes=30)


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job: rank 0 of 1 when not launched by torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """Whether there are other ranks to talk to."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes logs, grids, checkpoints and metrics."""
        return self.rank == 0


def env_ranks() -> Ranks:
    """The ranks torchrun's environment variables describe (one process when they are absent)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise ConfigError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them)") from None
    if not 0 <= rank < world:
        raise ConfigError(f"RANK={rank} is outside WORLD_SIZE={world}")
    return Ranks(rank, world, local)


def init() -> Ranks:
    """Join the process group torchrun's environment describes (once per process); a no-op alone."""
    ranks = env_ranks()
    if ranks.enabled and not dist.is_initialized():
        if torch.cuda.is_available():
            if ranks.local_rank >= torch.cuda.device_count():
                raise ConfigError(f"LOCAL_RANK={ranks.local_rank} but only {torch.cuda.device_count()} GPUs are visible; "
                                  "start at most one process per GPU (torchrun --nproc_per_node)")
            torch.cuda.set_device(ranks.local_rank)  # NCCL's object collectives use the current device
        # Collectives pick the backend by tensor device: gloo for CPU tensors, NCCL for CUDA ones.
        dist.init_process_group(backend="cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo", timeout=TIMEOUT)
        atexit.register(_shutdown)
    return ranks


def _shutdown() -> None:
    if dist.is_initialized():
        try:
            # Tear gloo down together: a rank that destroys its pairs while the other still uses them could abort
            # at exit ("terminate called without an active exception", ~1 run in 10 of the torchrun CLI test).
            dist.barrier()
        except Exception:  # noqa: BLE001  (a rank that died or timed out: nothing left to agree with)
            pass
        dist.destroy_process_group()


def rank_device(device: torch.device, ranks: Ranks) -> torch.device:
    """This rank's device: 'cuda' (also from trainer.device=auto) becomes cuda:LOCAL_RANK."""
    if not ranks.enabled or device.type != "cuda":
        return device
    if device.index is not None:
        raise ConfigError(f"trainer.device={device} under torchrun would put every process on one GPU; "
                          "use trainer.device=auto or cuda (each process takes cuda:LOCAL_RANK)")
    return torch.device("cuda", ranks.local_rank)


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The global-RNG seed of rank > 0 (rank 0 keeps the single-process stream): latents differ per rank."""
    return seed + rank + 1_000_003 * step


def start_ranks(modules: Iterable[nn.Module], ranks: Ranks, seed: int) -> None:
    """Give every rank rank 0's weights and buffers, and ranks > 0 their own noise stream."""
    if not ranks.enabled:
        return
    with torch.no_grad():
        for module in modules:
            for t in [*module.parameters(), *module.buffers()]:
                buf = t.detach().contiguous()  # channels_last weights travel as plain contiguous copies
                dist.broadcast(buf, src=0)
                if buf is not t:
                    t.copy_(buf)
    if not ranks.is_main:
        torch.manual_seed(rank_seed(seed, ranks.rank))


def average_grads(params: list[nn.Parameter], ranks: Ranks) -> None:
    """Replace each gradient by its mean over the ranks: one flat all-reduce per optimizer step.

    Parameters without a gradient are skipped; they are the same on every rank because every rank
    runs the same code on the same model.
    """
    if not ranks.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])  # one buffer: one collective, not one per tensor
    dist.all_reduce(flat)
    flat.div_(ranks.world_size)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view(g.shape))
        offset += n


def gather(obj: Any, ranks: Ranks) -> list[Any]:
    """Every rank's `obj` in rank order, on every rank ([obj] alone)."""
    if not ranks.enabled:
        return [obj]
    out: list[Any] = [None] * ranks.world_size
    dist.all_gather_object(out, obj)
    return out


def first_reason(reason: str | None, ranks: Ranks) -> str | None:
    """The lowest rank's reason to stop, on every rank: one rank's NaN stops them all alike."""
    if not ranks.enabled:
        return reason
    return next((f"rank {r}: {why}" for r, why in enumerate(gather(reason, ranks)) if why is not None), None)


def restore_rng(ckpt: dict[str, Any], ranks: Ranks, seed: int) -> None:
    """This rank's global RNG from a checkpoint: its own saved state, or a fresh seed if the world grew."""
    states = ckpt.get("rng_ranks") or [ckpt["rng"]]
    if ranks.is_main and len(states) != ranks.world_size:
        print(f"warning: checkpoint written by {len(states)} process(es), resuming with {ranks.world_size}: "
              "weights, optimizers and data order continue; per-rank noise differs from an uninterrupted run",
              file=sys.stderr)
    if ranks.rank < len(states):
        set_rng_state(states[ranks.rank])
    else:
        torch.manual_seed(rank_seed(seed, ranks.rank, int(ckpt["step"])))


def rank_overrides(argv: list[str], ranks: Ranks) -> list[str]:
    """gan-run's Hydra overrides for this rank: ranks > 0 write nothing (no .hydra/, no log file).

    Hydra resolves ${now:...} in each process, so ranks could pick different run dirs; rank 0's
    Hydra makes the run dir and `shared_run_dir` hands it to the others.
    """
    if not ranks.enabled:
        return argv
    if "-m" in argv or "--multirun" in argv:
        raise ConfigError("gan-run -m cannot run under torchrun (every rank would sweep); start one torchrun per run")
    if ranks.is_main:
        return argv
    return [*argv, "hydra.run.dir=.", "hydra.output_subdir=null", "hydra/job_logging=stdout"]


def shared_run_dir(run_dir: Path) -> Path:
    """Rank 0's run dir, on every rank."""
    ranks = init()
    if not ranks.enabled:
        return run_dir
    box = [str(run_dir.resolve()) if ranks.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return Path(box[0])
