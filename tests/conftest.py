"""Shared fixtures: compose the real conf/ with overrides (as the CLI does) and tiny CPU settings."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"

# Settings that make any model train a few steps in well under a second on 2 CPU cores.
TINY = [
    "dataset=digits",
    "model.width=8",
    "model.z_dim=8",
    "trainer.max_steps=4",
    "trainer.log_every=2",
    "trainer.sample_every=4",
    "trainer.ckpt_every=2",
    "trainer.grid_size=16",
    "trainer.quiet=true",
    "trainer.device=cpu",
    "trainer.precision=fp32",  # fp32 everywhere in tests: the same numbers on CPUs with and without bf16 units
    # the default job decays its rates to 0 at max_steps: tests extend runs by resuming with a larger max_steps,
    # which under a decay is another schedule, so they train at constant rates (tests/test_optim.py covers decays)
    "optimizer.schedule=constant",
]
# MLP models take widths in units, not channels; keep them small too.
TINY_MLP = ["model.width=32", "model.d_width=16", "model.pieces=2"]


def tiny(model: str) -> list[str]:
    """TINY overrides for `model` (MLP variants get MLP sizes)."""
    extra = TINY_MLP if model in ("gan", "cgan") else []
    return [f"model={model}", *TINY, *extra]


# A plugin the developer installed (e.g. README's examples/gan_runner_example) would add its options to every
# composition and error line here; the suite tests the built-ins, and test_plugins.py turns entry points back on.
os.environ["GAN_RUNNER_NO_ENTRY_POINTS"] = "1"


def pytest_configure(config: pytest.Config) -> None:
    """Parallel workers (make test runs pytest-xdist, one worker per core): one intra-op thread each.

    Two workers with two OpenMP threads each on two cores stall at every barrier; subprocesses the
    tests start (gan-run, torchrun) inherit OMP_NUM_THREADS.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Feature nets and prepared datasets go to a cache of this session, never the user's ~/.cache
    (tests that need their own set GAN_RUNNER_CACHE again; parallel workers each get one)."""
    cache = tmp_path_factory.mktemp("gan_runner_cache")
    before = os.environ.get("GAN_RUNNER_CACHE")
    os.environ["GAN_RUNNER_CACHE"] = str(cache)
    yield cache
    if before is None:
        os.environ.pop("GAN_RUNNER_CACHE", None)
    else:
        os.environ["GAN_RUNNER_CACHE"] = before


@pytest.fixture(scope="module")
def one_thread():
    """Tiny problems: one intra-op thread avoids OpenMP barrier stalls on a busy 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def compose_cfg() -> Callable[..., DictConfig]:
    """compose_cfg("model=gan", ...) -> the config gan-run would build for those overrides."""

    def _compose(*overrides: str) -> DictConfig:
        with initialize_config_module("gan_runner.conf", version_base=None):
            return compose("config", overrides=list(overrides))

    return _compose


def gan_run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the gan-run CLI in a subprocess (python -m, so no PATH assumptions)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, "-m", "gan_runner.cli.train", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@dataclass
class CliResult:
    """What an in-process CLI call produced: exit code, stdout and stderr (as subprocess.run's result)."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def gan_run_here(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """gan-run's main() in this process: the same code path as the console script, without paying
    a ~5 s torch import per call (tests/test_cli.py keeps subprocess runs for the real process)."""
    from gan_runner.cli import train

    def _run(*args: str, cwd: Path | None = None) -> CliResult:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["gan-run", *args])
        monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)  # main() sets it for its own composition
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        capfd.readouterr()
        code = 0
        try:
            train.main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        finally:
            os.environ.pop("HYDRA_FULL_ERROR", None)
            for handler in root.handlers:  # Hydra's logging config: its file handler holds the run's log open
                if handler not in handlers:
                    handler.close()
            root.handlers[:], root.level = handlers, level
        out, err = capfd.readouterr()
        return CliResult(code, out, err)

    return _run


def call_main(main: Callable[[list[str]], None], argv: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """A console entry point's main(argv) in this process: its exit code and stderr."""
    capfd.readouterr()
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, capfd.readouterr().err


# ------------------------------------------------------------- objectives as the training phases compute them
class Recorder(dict):
    """A stats sink that keeps the last value reported under each name (tests read them like a dict)."""

    def report(self, name: str, value: torch.Tensor) -> None:
        self[name] = value.detach()


def d_total(loss, model, real, y, latent, *, fake=None, step: int = 0, penalties=()):
    """D's whole objective (loss terms, model aux terms, the loss's and extra penalties due at `step`) and its stats."""
    from gan_runner.training.phases import Batch, d_objective

    if fake is None:
        with torch.no_grad():
            fake = model.G(latent)
    stats = Recorder()
    value = d_objective(model, loss, (*loss.penalties, *penalties))(Batch(real, y, latent, fake), step, stats)
    return value, stats


def g_total(loss, model, latent, *, fake=None, real=None, y=None):
    """G's objective on G(latent) (made here with its graph unless given; `real`: the batch relativistic losses judge)."""
    stats = Recorder()
    return loss.g_objective(model, latent, model.G(latent) if fake is None else fake, stats, real=real, y=y), stats


def with_stats(fn, *args):
    """Call a hook that reports into a stats sink as its last argument; returns (value, stats)."""
    stats = Recorder()
    return fn(*args, stats), stats


def one_iteration(trainer, real, y, latent, stats) -> None:
    """One training iteration of `trainer` on this real batch and latent batch (its stream and prior bypassed)."""
    stream, model = trainer.stream, trainer.model
    stream.next = lambda: (real, y)  # instance attributes: only this trainer's stream and model are affected
    model.sample_latent = lambda n, device, gen=None: latent
    try:
        trainer.iteration(stats, log=False)
    finally:
        del stream.next, model.sample_latent
