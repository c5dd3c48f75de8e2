"""run(cfg): build dataset, model, loss and optimizers from their registries, then train.

Importable and testable without the CLI; the Hydra entry point only composes the config.
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from omegaconf import DictConfig, OmegaConf

from gan_runner import data as _data  # noqa: F401  (registers datasets)
from gan_runner import losses as _losses  # noqa: F401  (registers losses)
from gan_runner import models as _models  # noqa: F401  (registers models)
from gan_runner.atomic import write_json
from gan_runner.checkpoint import (
    CKPT_DIR,
    LAST,
    config_difference,
    data_spec_record,
    load_checkpoint,
    load_newest_good,
    remove_temp_files,
    spec_difference,
)
from gan_runner.config_schema import EvalConfig, TrainerConfig, validate
from gan_runner.data import BatchStream, build_dataset, build_stream
from gan_runner.devices import precision_note, resolve_device
from gan_runner.ema import EMA
from gan_runner.errors import ConfigError, UserError
from gan_runner.generation.grids import picture_renderer
from gan_runner.losses.base import AdversarialLoss
from gan_runner.memory_budget import batch_bytes, check_fits, step_bytes
from gan_runner.metrics.features import expected_space_tags
from gan_runner.models.base import GANModel
from gan_runner.optim import build_optimizers, clip_norms
from gan_runner.plugins import activate, used_plugins
from gan_runner.registry import LOSSES, MODELS
from gan_runner.stabilizers import Stabilizers, build_stabilizers
from gan_runner.stabilizers.unrolled import unrolled_g_objective
from gan_runner.training import distributed
from gan_runner.training.compiled import compile_models, needs_double_backward
from gan_runner.training.phases import Batches, Phase, d_objective, g_objective
from gan_runner.training.run_eval import GeneratorEvaluator, build_periodic_eval, eval_metric_names, evaluate_final
from gan_runner.training.run_lock import RunDirLock
from gan_runner.training.trainer import Trainer


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


def check_model_fits(build: Callable[[], GANModel], batch_size: int, device: torch.device) -> None:
    """Refuse a model whose weights, optimizer state and one step's activations cannot fit on `device`."""

    def one_step(model: torch.nn.Module) -> None:
        assert isinstance(model, GANModel)
        latent = model.sample_latent(batch_size, "meta")
        model.discriminate(model.G(latent), latent.y)

    need = step_bytes(build, one_step)
    check_fits(need, device, f"the model with batch size {batch_size}", "lower model.width, model.z_dim, "
               "dataset.image_size or dataset.batch_size")


def build_phases(model: GANModel, loss: AdversarialLoss, stab: Stabilizers, stream: BatchStream, opt_g: torch.optim.Optimizer,
                 opt_d: torch.optim.Optimizer, ema: EMA | None, n_critic: int, device: torch.device,
                 clip: tuple[float | None, float | None] = (None, None)) -> list[Phase]:
    """D main (n_critic per iteration, the loss's and `stabilize`'s penalties on their schedules), then G main.

    `clip`: (G's, D's) gradient-norm clipping thresholds (optimizer.clip_grad_norm_g/_d)."""
    batches = Batches(model, stream, device, n_critic)
    d_obj = d_objective(model, loss, (*loss.penalties, *stab.penalties))
    g_obj = g_objective(model, loss)
    for wrap in stab.g_wrappers:  # feature matching adds to G's objective; the loop does not know
        g_obj = wrap(g_obj, model)
    if stab.unroll:  # the unrolled GAN wraps G's objective (feature matching included: against D^K)
        g_obj = unrolled_g_objective(g_obj, d_obj, model, opt_d, stab.unroll, clip[1])
    d_phase = Phase("D", list(model.D.parameters()), opt_d, batches.for_d, d_obj, repeats=n_critic,
                    after_step=[lambda: loss.after_d_step(model)], clip_grad_norm=clip[1])
    g_phase = Phase("G", list(model.G.parameters()), opt_g, batches.for_g, g_obj, frozen=model.D,
                    after_step=[lambda: ema.update(model.G)] if ema is not None else [], clip_grad_norm=clip[0])
    return [d_phase, g_phase]


@dataclass(frozen=True)
class BuiltRun:
    """What a run is made of: the trainer, and the final evaluation run.py owns (the trainer never evaluates at the end)."""

    trainer: Trainer
    evaluator: GeneratorEvaluator
    eval_names: tuple[str, ...]  # eval.metrics, checked against the run
    eval_num: int  # eval.num


def build_trainer(cfg: DictConfig | Mapping[str, Any], run_dir: str | Path) -> Trainer:
    """The run's trainer (build_run without the final evaluation's pieces)."""
    return build_run(cfg, run_dir).trainer


def build_run(cfg: DictConfig | Mapping[str, Any], run_dir: str | Path) -> BuiltRun:
    """Everything a run needs, built from the registries and checked, resumed if asked; nothing written yet."""
    config = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    assert isinstance(config, dict)
    # The composed config's plugins came from the command line (gan-run) or the caller: import them (and the installed
    # ones) here too, since sweep launchers run jobs in fresh processes. Never from a checkpoint's config.
    activate(config.get("plugins") or [])
    run_dir = Path(run_dir)
    tcfg = config["trainer"]
    opts = validate("trainer", TrainerConfig, tcfg)
    ranks = distributed.init()  # torchrun: join the other processes (a no-op alone)
    device = distributed.rank_device(resolve_device(opts.device), ranks)
    seed = config.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not -(2**63) <= seed < 2**64:
        raise ConfigError(f"seed must be an integer of at most 64 bits, got {str(seed)[:40]!r}")
    if opts.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)

    dcfg = dict(config["dataset"])
    batch_size = dcfg.get("batch_size")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ConfigError(f"dataset.batch_size must be an integer >= 1, got {batch_size!r}")
    for key in ("root", "path", "source"):  # an empty path would silently mean the current directory
        if key in dcfg and isinstance(dcfg[key], str) and not dcfg[key].strip():
            raise ConfigError(f"dataset.{key} is empty; give a folder (or leave the key out)")
    check_fits(batch_bytes(batch_size, dcfg.get("image_size")), device, f"a batch of {batch_size} images of "
               f"{dcfg.get('image_size')}x{dcfg.get('image_size')}", "lower dataset.image_size or dataset.batch_size")
    data = build_dataset(dcfg)
    if opts.precision == "auto":
        # bf16 pays for convolutions; 2D mixtures need fp32's resolution (modes of std 0.01) and gain nothing
        chosen, why = precision_note(device, data.spec.is_image)
        opts = replace(opts, precision=chosen)
        if ranks.is_main and not opts.quiet:
            print(f"precision=auto: {chosen} on {device.type} ({why})", flush=True)
    stab = build_stabilizers(config.get("stabilize"), data.spec, opts.max_steps)
    model_name, model_opts = named_options(config["model"], "model")
    check_model_fits(lambda: MODELS.build(model_name, data.spec, stab.d_transforms, options=model_opts),
                     min(batch_size, len(data)), device)  # a batch larger than the data has its own message
    model = MODELS.build(model_name, data.spec, stab.d_transforms, options=model_opts).to(device)
    if opts.channels_last and data.spec.is_image:
        # NHWC: the layout oneDNN (CPU) and cuDNN tensor cores run convolutions fastest in
        model = model.to(memory_format=torch.channels_last)
    loss_name, loss_opts = named_options(config["loss"], "loss")
    loss = LOSSES.build(loss_name, options=loss_opts)
    if batch_size % model.pack:
        raise ConfigError(f"model.pack={model.pack} needs dataset.batch_size divisible by it, got {batch_size}")
    opt_g, opt_d, sched_g, sched_d = build_optimizers(config["optimizer"], model.G.parameters(),
                                                      model.D.parameters(), opts.max_steps)
    # batch_size is per rank; dataset.placement/xflip decide where data lives and how batches are drawn
    stream = build_stream(data, dcfg, batch_size, seed, ranks, device, bool(opts.channels_last))
    ema = EMA(model.G, opts.ema) if opts.ema else None
    phases = build_phases(model, loss, stab, stream, opt_g, opt_d, ema, opts.n_critic, device, clip_norms(config["optimizer"]))
    distributed.start_ranks([model, *([ema.module] if ema else [])], ranks, seed)
    ecfg = asdict(validate("eval", EvalConfig, config.get("eval")))  # the whole section, defaults from config.yaml
    eval_names = eval_metric_names(ecfg, data.spec, model)
    evaluator = GeneratorEvaluator(model, ema, config, stream.data, seed, device)
    periodic = build_periodic_eval(opts.eval_every, ecfg, model, evaluator)
    trainer = Trainer(model=model, phases=phases, stream=stream, opt_g=opt_g, opt_d=opt_d, sched_g=sched_g, sched_d=sched_d,
                      ema=ema, opts=opts, run_dir=run_dir, device=device, config=config, seed=seed,
                      render=picture_renderer(data.spec.is_image, None if data.spec.is_image else data.x),
                      ranks=ranks, periodic=periodic, eval_names=eval_names, console_keys=loss.console_keys)
    trainer.plugins = used_plugins(config)  # which plugin built what: checkpoints and metrics.json record it
    trainer.loss_tags = loss.family_tags
    trainer.space_tags = expected_space_tags(str(ecfg["features"]), data.spec, dcfg)
    ckpt = find_resume_checkpoint(opts.resume, run_dir, device)
    if ckpt is not None:
        diff = config_difference(ckpt.get("config"), config) or spec_difference(ckpt.get("spec"), data_spec_record(data.spec))
        if diff is not None:
            raise ConfigError(f"trainer.resume={tcfg['resume']}: the checkpoint does not fit this config: {diff}")
        try:
            trainer.load_state_dict(ckpt)
        except (RuntimeError, KeyError, ValueError) as e:
            raise ConfigError(f"checkpoint {tcfg['resume']} does not fit this config (model or optimizer differ): "
                              f"{str(e).splitlines()[0][:160]}") from None
    if opts.compile:  # after EMA's copy of G, which stays eager (it only draws grids)
        double_backward = needs_double_backward((*loss.penalties, *stab.penalties), stab.unroll)
        compile_models(model, device, double_backward, verbose=ranks.is_main and not opts.quiet)
    return BuiltRun(trainer, evaluator, tuple(eval_names), int(ecfg["num"]))


def run(cfg: DictConfig | Mapping[str, Any], run_dir: str | Path) -> dict[str, Any]:
    """Train one run described by `cfg`, writing everything under `run_dir`; returns metrics.json's content.

    The run dir's lock is held throughout (from before the resume checkpoint is read when the dir exists):
    a second writer is refused in one line.
    """
    t_start = time.monotonic()
    run_dir = Path(run_dir)
    lock = RunDirLock(run_dir) if distributed.env_ranks().is_main else None  # rank 0 alone writes the run dir
    try:
        if lock is not None:
            lock.acquire()
        built = build_run(cfg, run_dir)  # fails on bad input before the run dir gets training outputs
        run_dir.mkdir(parents=True, exist_ok=True)
        if lock is not None:
            lock.acquire()
            remove_temp_files(run_dir)  # a killed writer's temp files: ours alone to clean now
        return _train(built, run_dir, t_start)
    finally:
        if lock is not None:
            lock.release()


def _train(built: BuiltRun, run_dir: Path, t_start: float) -> dict[str, Any]:
    trainer = built.trainer
    metrics = trainer.train()
    if not trainer.ranks.is_main:
        return metrics  # rank 0 evaluates and writes metrics.json
    if built.eval_names and metrics["status"] == "completed":
        metrics["eval"] = evaluate_final(built.evaluator, list(built.eval_names), built.eval_num, trainer.step, run_dir)
    if trainer.plugins:
        metrics["plugins"] = trainer.plugins
    metrics["wall_time_s"] = round(time.monotonic() - t_start, 3)
    metrics["device"] = str(trainer.device)
    metrics["run_dir"] = str(run_dir)
    write_json(run_dir / "metrics.json", metrics)
    return metrics
