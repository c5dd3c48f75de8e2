"""run(cfg): build dataset, model, loss and optimizers from their registries, then train.

Importable and testable without the CLI; the Hydra entry point only composes the config.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Mapping

import torch
from omegaconf import DictConfig, OmegaConf

from gan_runner import data as _data  # noqa: F401  (registers datasets)
from gan_runner import losses as _losses  # noqa: F401  (registers losses)
from gan_runner import models as _models  # noqa: F401  (registers models)
from gan_runner.atomic import write_json
from gan_runner.data import BatchStream, build_dataset
from gan_runner.devices import native_bf16, resolve_device
from gan_runner.errors import ConfigError, UserError
from gan_runner.optim import build_optimizers
from gan_runner.registry import LOSSES, MODELS
from gan_runner.stabilizers import build_stabilizers
from gan_runner.stabilizers.unrolled import check_optimizer
from gan_runner.training import distributed
from gan_runner.training.checkpoint import CKPT_DIR, LAST, load_checkpoint, load_newest_good
from gan_runner.training.compiled import compile_models
from gan_runner.training.ema import EMA
from gan_runner.training.periodic_eval import PeriodicEval, periodic_options
from gan_runner.training.trainer import Trainer, TrainerOptions

TRAINER_KEYS = {"max_steps", "max_time", "n_critic", "device", "log_every", "sample_every", "ckpt_every",
                "ema", "resume", "grid_size", "quiet", "deterministic", "on_divergence", "max_grad_norm",
                "max_rollbacks", "rollback_lr_factor", "precision", "channels_last", "compile", "eval_every"}


EVAL_KEYS = {"metrics", "num", "periodic", "periodic_num", "best"}


def trainer_options(t: Mapping[str, Any]) -> TrainerOptions:
    """Validated trainer options (one clear line for each bad value)."""
    unknown = set(t) - TRAINER_KEYS
    if unknown:
        raise ConfigError(f"trainer has no option '{sorted(unknown)[0]}' (options: {', '.join(sorted(TRAINER_KEYS))})")
    for key in ("max_steps", "n_critic", "log_every", "sample_every", "ckpt_every", "grid_size"):
        v = t.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"trainer.{key} must be an integer >= 1, got {v!r}")
    max_time = t.get("max_time")
    if max_time is not None and (not isinstance(max_time, (int, float)) or max_time <= 0):
        raise ConfigError(f"trainer.max_time must be seconds > 0 or null, got {max_time!r}")
    ema = t.get("ema", 0.0)
    if not isinstance(ema, (int, float)) or not 0 <= ema < 1:
        raise ConfigError(f"trainer.ema must be a decay in [0, 1) (0 = off), got {ema!r}")
    policy = t.get("on_divergence", "stop")
    if policy not in ("stop", "rollback"):
        raise ConfigError(f"trainer.on_divergence must be stop or rollback, got {policy!r}")
    max_grad_norm = t.get("max_grad_norm")
    if max_grad_norm is not None and (not isinstance(max_grad_norm, (int, float)) or max_grad_norm <= 0):
        raise ConfigError(f"trainer.max_grad_norm must be > 0 or null (off), got {max_grad_norm!r}")
    max_rollbacks, factor = t.get("max_rollbacks", 3), t.get("rollback_lr_factor", 0.5)
    if not isinstance(max_rollbacks, int) or max_rollbacks < 0:
        raise ConfigError(f"trainer.max_rollbacks must be an integer >= 0, got {max_rollbacks!r}")
    if not isinstance(factor, (int, float)) or not 0 < factor <= 1:
        raise ConfigError(f"trainer.rollback_lr_factor must be in (0, 1], got {factor!r}")
    precision = t.get("precision", "fp32")
    if precision not in ("fp32", "bf16", "auto"):
        raise ConfigError(f"trainer.precision must be fp32, bf16 or auto, got {precision!r}")
    compile_ = t.get("compile", False)
    if not isinstance(compile_, bool):
        raise ConfigError(f"trainer.compile must be true or false, got {compile_!r}")
    return TrainerOptions(t["max_steps"], max_time, t["n_critic"], t["log_every"], t["sample_every"],
                          t["ckpt_every"], t["grid_size"], bool(t.get("quiet", False)), policy,
                          None if max_grad_norm is None else float(max_grad_norm), max_rollbacks, float(factor), precision,
                          compile=compile_)


def named_options(section: Mapping[str, Any], group: str) -> tuple[str, dict[str, Any]]:
    """(name, options) of a config group section."""
    if "name" not in section:
        raise ConfigError(f"{group} config has no 'name'")
    opts = dict(section)
    return str(opts.pop("name")), opts


def find_resume_checkpoint(resume: Any, run_dir: Path, device: torch.device) -> dict[str, Any] | None:
    """The checkpoint to resume from: a file as given, a run dir's newest good one, or 'auto' (this run dir's, if any)."""
    if resume in (None, "", False):
        return None
    if resume == "auto":
        target = run_dir
    else:
        target = Path(str(resume)).expanduser()
        if target.is_file():
            return load_checkpoint(target, map_location=device)
        if not target.exists():
            raise UserError(f"trainer.resume={resume}: {target} does not exist; give a run dir, a checkpoint file or auto")
    found = load_newest_good(target, map_location=device)
    if found is None:
        if resume == "auto":
            return None  # nothing to resume yet: start fresh in this run dir
        raise UserError(f"trainer.resume={resume}: {target} is not a gan-runner run dir with a loadable checkpoint "
                        f"(looked for {CKPT_DIR}/{LAST} and {CKPT_DIR}/step_*.pt)")
    ckpt, path, problems = found
    for problem in problems:
        print(f"warning: {problem}; resuming from {path} instead", file=sys.stderr)
    return ckpt


def eval_metric_names(ecfg: Mapping[str, Any], spec: Any, model: Any) -> list[str]:
    """The end-of-training metrics, checked against the run before any training (one clear line if one cannot apply)."""
    from gan_runner.metrics.evaluate import check_metrics, model_kinds, parse_metric_list

    unknown = set(ecfg) - EVAL_KEYS
    if unknown:
        raise ConfigError(f"eval has no option '{sorted(unknown)[0]}' (options: {', '.join(sorted(EVAL_KEYS))})")
    metrics, num = ecfg.get("metrics") or [], ecfg.get("num", 5000)
    if not isinstance(num, int) or isinstance(num, bool) or num < 2:
        raise ConfigError(f"eval.num must be an integer >= 2, got {num!r}")
    if not metrics:
        return []
    names = parse_metric_list(",".join(str(m) for m in metrics))
    check_metrics(names, spec, **model_kinds(model))
    return names


def periodic_eval(trainer: Trainer, every: Any, ecfg: Mapping[str, Any]) -> PeriodicEval | None:
    """trainer.eval_every's evaluator (None when off): cheap defaults (fid, or the 2D/Stacked-MNIST mode counts)."""
    from gan_runner.metrics.evaluate import check_metrics, model_kinds, parse_metric_list, why_not

    spec, kinds = trainer.model.spec, model_kinds(trainer.model)

    def check(names: list[str]) -> list[str]:
        names = parse_metric_list(",".join(names))
        check_metrics(names, spec, **kinds)
        return names

    defaults = next((c for c in (["modes"], ["stacked_modes"], ["fid"])
                     if all(why_not(n, spec, **kinds) is None for n in c)), [])
    opts = periodic_options(every, ecfg, defaults, check)
    if not opts.every:
        return None
    return PeriodicEval(opts, lambda step: evaluate_generator(trainer, opts.metrics, opts.num, step))


def evaluate_generator(trainer: Trainer, names: list[str], num: int, step: int) -> dict[str, float]:
    """gan-eval's metrics on the trainer's generator as it is now (EMA weights when on), no reload.

    The real side (its subset, features, the feature network) depends only on the data, seed and num, so
    it is computed at a run's first evaluation with that num and reused by the later ones.
    """
    from gan_runner.generation.loading import LoadedRun
    from gan_runner.metrics.evaluate import evaluate_run

    now = LoadedRun(trainer.model, trainer.ema.module if trainer.ema else None, trainer.config, step)
    results = evaluate_run(now, trainer.stream.data.to("cpu"), names, num=num, seed=trainer.seed,
                           device=trainer.device, reuse=trainer.eval_reuse.setdefault(num, {})).results
    return {k: round(float(v), 6) for k, v in results.items()}


def evaluate_final(trainer: Trainer) -> dict[str, float]:
    """gan-eval's metrics on the final generator (the trainer's, in memory), also written to TensorBoard as eval/NAME."""
    from torch.utils.tensorboard import SummaryWriter

    # The weights the last checkpoint holds are already here: no reload, no second dataset build.
    num = int((trainer.config.get("eval") or {}).get("num", 5000))
    results = evaluate_generator(trainer, trainer.eval_names, num, trainer.step)
    writer = SummaryWriter(str(trainer.run_dir / "tb"))
    for name, value in results.items():
        writer.add_scalar(f"eval/{name}", value, trainer.step)
    writer.close()
    return results


def build_trainer(cfg: DictConfig | Mapping[str, Any], run_dir: str | Path) -> Trainer:
    """Everything a run needs, built from the registries and checked, resumed if asked; nothing written yet."""
    config = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    assert isinstance(config, dict)
    run_dir = Path(run_dir)
    tcfg = config["trainer"]
    opts = trainer_options(tcfg)
    ranks = distributed.init()  # torchrun: join the other processes (a no-op alone)
    device = distributed.rank_device(resolve_device(str(tcfg.get("device", "auto"))), ranks)
    seed = config.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    if tcfg.get("deterministic"):
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)

    dcfg = dict(config["dataset"])
    batch_size = dcfg.get("batch_size")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ConfigError(f"dataset.batch_size must be an integer >= 1, got {batch_size!r}")
    data = build_dataset(dcfg)
    if opts.precision == "auto":
        # bf16 pays for convolutions; 2D mixtures need fp32's resolution (modes of std 0.01) and gain nothing
        opts.precision = "bf16" if data.spec.is_image and native_bf16(device) else "fp32"
    model_name, model_opts = named_options(config["model"], "model")
    model = MODELS.build(model_name, data.spec, options=model_opts).to(device)
    if tcfg.get("channels_last") and data.spec.is_image:
        # NHWC: the layout oneDNN (CPU) and cuDNN tensor cores run convolutions fastest in
        model = model.to(memory_format=torch.channels_last)
        data.x = data.x.contiguous(memory_format=torch.channels_last)
    loss_name, loss_opts = named_options(config["loss"], "loss")
    loss = LOSSES.build(loss_name, options=loss_opts)
    stab = build_stabilizers(config.get("stabilize"), data.spec, opts.max_steps)
    model.d_transforms, loss.penalties, opts.unroll = stab.d_transforms, stab.penalties, stab.unroll
    if batch_size % model.pack:
        raise ConfigError(f"model.pack={model.pack} needs dataset.batch_size divisible by it, got {batch_size}")
    opt_g, opt_d, sched_g, sched_d = build_optimizers(config["optimizer"], model.G.parameters(),
                                                      model.D.parameters(), opts.max_steps)
    if opts.unroll:
        check_optimizer(opt_d)
    stream = BatchStream(data.to(device), batch_size, seed, ranks.rank, ranks.world_size)  # batch_size is per rank
    ema = EMA(model.G, float(tcfg["ema"])) if tcfg.get("ema") else None
    trainer = Trainer(model, loss, stream, opt_g, opt_d, sched_g, sched_d, ema, opts, run_dir, device, config, seed, ranks)
    distributed.start_ranks([model, *([ema.module] if ema else [])], ranks, seed)
    trainer.eval_names = eval_metric_names(config.get("eval") or {}, data.spec, model)
    trainer.periodic = periodic_eval(trainer, tcfg.get("eval_every", 0), config.get("eval") or {})
    ckpt = find_resume_checkpoint(tcfg.get("resume"), run_dir, device)
    if ckpt is not None:
        try:
            trainer.load_state_dict(ckpt)
        except (RuntimeError, KeyError, ValueError) as e:
            raise ConfigError(f"checkpoint {tcfg['resume']} does not fit this config (model or optimizer differ): "
                              f"{str(e).splitlines()[0][:160]}") from None
    if opts.compile:  # after EMA's copy of G, which stays eager (it only draws grids)
        compile_models(model, loss, device, opts.unroll, verbose=ranks.is_main and not opts.quiet)
    return trainer


def run(cfg: DictConfig | Mapping[str, Any], run_dir: str | Path) -> dict[str, Any]:
    """Train one run described by `cfg`, writing everything under `run_dir`; returns metrics.json's content."""
    t_start = time.monotonic()
    trainer = build_trainer(cfg, run_dir)  # fails on bad input before the run dir gets training outputs
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics = trainer.train()
    if not trainer.ranks.is_main:
        return metrics  # rank 0 evaluates and writes metrics.json
    if trainer.eval_names and metrics["status"] == "completed":
        metrics["eval"] = evaluate_final(trainer)
    metrics["wall_time_s"] = round(time.monotonic() - t_start, 3)
    metrics["device"] = str(trainer.device)
    metrics["run_dir"] = str(run_dir)
    write_json(run_dir / "metrics.json", metrics)
    return metrics
