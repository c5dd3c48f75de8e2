"""Every YAML in conf/ composes, names a registered builder, and carries only options it accepts."""
from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
import yaml
from omegaconf import OmegaConf

import gan_runner.data  # noqa: F401
import gan_runner.losses  # noqa: F401
import gan_runner.models  # noqa: F401
import gan_runner.optim  # noqa: F401  (registers the optimizers: this file must pass on its own)
from gan_runner.config_schema import OptimizerConfig, keys_of
from gan_runner.data import DataSpec
from gan_runner.registry import DATASETS, LOSSES, MODELS, OPTIMIZERS

from conftest import CONF, REPO

GROUPS = {"model": MODELS, "loss": LOSSES, "optimizer": OPTIMIZERS, "dataset": DATASETS}
OPTION_FILES = [(g, p.stem) for g in [*GROUPS, "trainer", "experiment", "ablation"] for p in sorted((CONF / g).glob("*.yaml"))]
ABLATION_SWEEPS = sorted(p.stem for p in (CONF / "experiment").glob("ablation_*.yaml"))


@pytest.mark.parametrize("group,option", OPTION_FILES, ids=[f"{g}={o}" for g, o in OPTION_FILES])
def test_every_yaml_composes(compose_cfg, group, option):
    cfg = compose_cfg(f"{group}={option}")
    if group == "experiment" and not option.startswith("ablation_"):
        # ring8/grid25, or a paper's preset on one of them (veegan_ring, pacgan_grid, ...)
        dataset = {"ring": "ring8", "grid": "grid25"}.get(option.split("_")[-1], option)
        assert cfg.dataset.name == dataset and cfg.trainer.ema == 0
    if group in GROUPS:
        # file name == registry name: one module + one YAML; a declared variant names the entry it configures
        assert cfg[group].name == VARIANTS.get(group, {}).get(option, option)
        assert cfg[group].name in GROUPS[group].names()


# YAMLs that configure a registry entry differently from its own YAML (the default job's Adam at 3e-3)
VARIANTS = {"optimizer": {"adam_fast": "adam"}}


@pytest.mark.parametrize("group", ["model", "loss", "dataset", "optimizer"])
def test_every_registry_entry_has_a_yaml(group):
    names = {p.stem for p in (CONF / group).glob("*.yaml")} - set(VARIANTS.get(group, {}))
    assert set(GROUPS[group].names()) == names


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "model").glob("*.yaml")))
def test_model_yaml_options_build(compose_cfg, name):
    cfg = OmegaConf.to_container(compose_cfg(f"model={name}"))
    opts = cfg["model"]
    opts.pop("name")
    assert set(opts) <= set(MODELS.options(name)), "YAML has keys the builder does not take"
    spec = DataSpec("digits", (1, 8, 8), 10, True)
    model = MODELS.build(name, spec, options=opts)
    latent = model.sample_latent(4, "cpu")
    fake = model.G(latent)
    assert fake.shape == (4, *spec.shape)  # the YAML's options build a G for this data and a D that judges it
    assert model.discriminate(fake, latent.y).adv.shape == (4 // model.pack,)


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "loss").glob("*.yaml")))
def test_loss_yaml_options_build(compose_cfg, name):
    cfg = OmegaConf.to_container(compose_cfg(f"loss={name}"))
    opts = cfg["loss"]
    opts.pop("name")
    LOSSES.build(name, options=opts)


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "optimizer").glob("*.yaml")))
def test_optimizer_yaml_options_are_known(name):
    opts = yaml.safe_load((CONF / "optimizer" / f"{name}.yaml").read_text())
    extra = {k: v for k, v in opts.items() if k not in keys_of(OptimizerConfig)}
    OPTIMIZERS.check_options(opts["name"], extra)


def test_public_keys_exist(compose_cfg):
    cfg = compose_cfg()
    for key in ["seed", "model.width", "model.z_dim", "optimizer.lr_g", "optimizer.lr_d", "dataset.image_size",
                "dataset.batch_size", "trainer.max_steps", "trainer.max_time", "trainer.n_critic",
                "trainer.device", "trainer.ema", "trainer.resume"]:
        assert OmegaConf.select(cfg, key, default="MISSING") != "MISSING", key
    cfg = compose_cfg("dataset=mnist")
    assert cfg.dataset.root == "data" and cfg.dataset.download is False


def test_defaults_are_the_default_job(compose_cfg):
    cfg = compose_cfg()
    assert (cfg.model.name, cfg.loss.name, cfg.optimizer.name, cfg.dataset.name) == ("dcgan", "ns", "adam", "mnist_5k")


def test_wgan_brings_paper_defaults(compose_cfg):
    cfg = compose_cfg("loss=wgan")
    assert cfg.optimizer.name == "rmsprop"
    assert cfg.optimizer.lr_g == pytest.approx(5e-5) and cfg.optimizer.lr_d == pytest.approx(5e-5)
    assert cfg.trainer.n_critic == 5 and cfg.loss.clip == pytest.approx(0.01)


def test_wgan_gp_brings_paper_defaults(compose_cfg):
    cfg = compose_cfg("loss=wgan_gp")
    assert cfg.optimizer.name == "adam" and list(cfg.optimizer.betas) == [0.0, 0.9]
    assert cfg.optimizer.lr_g == pytest.approx(1e-4) and cfg.trainer.n_critic == 5
    assert cfg.loss.gp_weight == pytest.approx(10.0) and cfg.model.d_norm == "layer"


def test_explicit_overrides_beat_loss_presets(compose_cfg):
    cfg = compose_cfg("loss=wgan", "optimizer=adam", "trainer.n_critic=2", "optimizer.lr_d=3e-4")
    assert cfg.optimizer.name == "adam" and cfg.trainer.n_critic == 2
    assert cfg.optimizer.lr_d == pytest.approx(3e-4)
    cfg = compose_cfg("optimizer=sgd", "loss=minimax")  # minimax keeps the chosen optimizer and k=1
    assert cfg.optimizer.name == "sgd" and cfg.trainer.n_critic == 1


@pytest.mark.slow
def test_config_ships_inside_the_wheel(tmp_path):
    """A non-editable install carries conf/ as gan_runner.conf, and Hydra composes from it."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(REPO)], check=True, capture_output=True, text=True, timeout=300)
    shipped = sorted(p.relative_to(target / "gan_runner" / "conf").as_posix()
                     for p in (target / "gan_runner" / "conf").rglob("*.yaml"))
    assert shipped == sorted(p.relative_to(CONF).as_posix() for p in CONF.rglob("*.yaml"))
    # Every module of the package is in the wheel (a subpackage missing from pyproject's list is not).
    package = REPO / "gan_runner"
    installed = {p.relative_to(target / "gan_runner").as_posix() for p in (target / "gan_runner").rglob("*.py")}
    assert {p.relative_to(package).as_posix() for p in package.rglob("*.py")} <= installed
    code = ("import gan_runner, pathlib; from hydra import compose, initialize_config_module\n"
            "assert str(pathlib.Path(gan_runner.__file__)).startswith(r'%s')\n"
            "with initialize_config_module('gan_runner.conf', version_base=None):\n"
            "    cfg = compose('config', overrides=['loss=wgan'])\n"
            "print(cfg.model.name, cfg.optimizer.name)" % target)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(target)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["dcgan", "rmsprop"]


@pytest.mark.parametrize("experiment", ABLATION_SWEEPS)
def test_ablation_sweeps_name_existing_switches_that_build(compose_cfg, tmp_path, experiment):
    """Every ablation a sweep lists composes with it and builds (2D ones fully: cheap)."""
    from hydra import compose, initialize_config_module

    from gan_runner.run import build_trainer

    with initialize_config_module("gan_runner.conf", version_base=None):  # composed: a sweep may inherit its params
        params = compose("config", overrides=[f"experiment={experiment}"], return_hydra_config=True).hydra.sweeper.params
    names = params["ablation"].split(",")
    assert names[0] == "none" and set(names) <= {p.stem for p in (CONF / "ablation").glob("*.yaml")}
    for name in names:
        cfg = compose_cfg(f"experiment={experiment}", f"ablation={name}", "trainer.device=cpu")
        if cfg.dataset.name in ("ring8", "grid25"):
            build_trainer(cfg, tmp_path / name)


def test_default_job_has_lazy_r1_and_paper_recipes_turn_it_off(compose_cfg):
    # The default job trains with a light lazy R1 (gamma 0.1 every 16 steps) that lets Adam run at 3e-3;
    # a paper's recipe or a benchmark preset must stay as published, and an ablation baseline plain.
    cfg = compose_cfg()
    assert (cfg.stabilize.r1, cfg.stabilize.reg_every) == (0.1, 16)
    assert (cfg.optimizer.name, cfg.optimizer.lr_g, cfg.optimizer.lr_d, cfg.optimizer.schedule) == ("adam", 3e-3, 3e-3, "linear")
    assert compose_cfg("model=gan").stabilize.r1 == 0.1  # a trick of the ns default, whatever the model
    for named in ("optimizer=adam", "optimizer=sgd"):  # an optimizer named on the command line brings its own rates
        assert compose_cfg(named).optimizer.lr_g != 3e-3, named
    assert compose_cfg("loss=wgan").optimizer.lr_g == 5e-5 and compose_cfg("preset=none").optimizer.lr_g == 2e-4
    for plain in ["loss=minimax", "loss=lsgan", "loss=hinge", "loss=wgan", "loss=wgan_gp", "experiment=ring8",
                  "experiment=grid25", "experiment=ablation_ring8", "experiment=ablation_grid25",
                  "experiment=ablation_mnist", "experiment=ablation_stacked", "ablation=none",
                  "experiment=ablation_mnist ablation=none", "experiment=ring8 loss=ns"]:
        assert compose_cfg(*plain.split()).stabilize.r1 == 0.0, plain
    for on in ["experiment=ablation_mnist ablation=r1", "experiment=ablation_ring8 ablation=r1", "loss=wgan ablation=r1"]:
        assert compose_cfg(*on.split()).stabilize.r1 == 1.0, on


@pytest.mark.parametrize("group", ["model", "loss", "dataset", "optimizer"])
def test_builder_defaults_agree_with_their_yaml(group):
    """A builder's keyword default and its YAML's value are one default written twice (the YAML is what gan-run uses,
    the signature what Python callers get): they must not disagree, as dcgan's width once did (64 vs 32)."""
    from gan_runner.registry import DATASETS, OPTIMIZERS

    registry = {"model": MODELS, "loss": LOSSES, "dataset": DATASETS, "optimizer": OPTIMIZERS}[group]
    checked = 0
    for path in sorted((CONF / group).glob("*.yaml")):
        values = OmegaConf.to_container(OmegaConf.load(path))
        values = values.get("loss", {}) if group == "loss" else values
        if group != "loss" and values["name"] != path.stem:
            continue  # a variant of a builder (optimizer=adam_fast: the default job's rates) departs on purpose
        for key, param in registry.options(values["name"]).items():
            if key in values and param.default is not inspect.Parameter.empty:
                default = list(param.default) if isinstance(param.default, tuple) else param.default
                assert default == values[key], f"{path.name}: {key} is {values[key]!r} there, {default!r} in the builder"
                checked += 1
    assert checked > 0
