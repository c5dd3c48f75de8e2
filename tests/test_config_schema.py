"""The run config's own sections are checked by one schema each (config_schema.py): names, types, ranges."""
from __future__ import annotations

from dataclasses import MISSING as MISSING_FACTORY
from dataclasses import fields

import pytest
from omegaconf import MISSING, OmegaConf

from gan_runner.config_schema import EvalConfig, OptimizerConfig, StabilizeConfig, TrainerConfig, keys_of, validate, yaml_defaults
from gan_runner.errors import ConfigError

from conftest import CONF


def test_a_valid_section_becomes_its_schema_with_defaults_filled():
    cfg = validate("trainer", TrainerConfig, {"max_steps": 10, "max_time": 5})
    assert isinstance(cfg, TrainerConfig) and cfg.max_steps == 10 and cfg.max_time == pytest.approx(5.0)
    assert cfg.n_critic == 1 and cfg.on_divergence == "stop"  # defaults, from conf/trainer/default.yaml


@pytest.mark.parametrize("values,message", [
    ({"max_stpes": 10}, "trainer has no option 'max_stpes' (options: "),
    ({"max_stpes": 10}, "did you mean 'max_steps'?"),
    ({"max_steps": "10"}, "trainer.max_steps must be an integer >= 1, got '10'"),  # a quoted YAML value is a typo
    ({"max_steps": True}, "trainer.max_steps must be an integer >= 1, got True"),
    ({"max_steps": 2.5}, "trainer.max_steps must be an integer >= 1, got 2.5"),
    ({"compile": 1}, "trainer.compile must be true or false, got 1"),
    ({"ema": 1.0}, "trainer.ema must be a decay in [0, 1) (0 = off), got 1.0"),
    ({"max_grad_norm": 0}, "trainer.max_grad_norm must be > 0 or null (off), got 0"),
])
def test_bad_trainer_values_are_one_line_each(values, message):
    with pytest.raises(ConfigError) as e:
        validate("trainer", TrainerConfig, {"max_steps": 10, **values})
    assert message in str(e.value) and "\n" not in str(e.value)


def test_stabilize_schema_checks_ranges():
    assert validate("stabilize", StabilizeConfig, None).r1 == 0.0  # the base value; the default job's R1 is its preset
    with pytest.raises(ConfigError, match=r"stabilize.instance_noise_steps must be an integer >= 1 or null, got 0"):
        validate("stabilize", StabilizeConfig, {"instance_noise_steps": 0})


SECTIONS = [("trainer", TrainerConfig), ("stabilize", StabilizeConfig), ("eval", EvalConfig), ("optimizer", OptimizerConfig)]


@pytest.mark.parametrize("section,schema", SECTIONS)
def test_every_default_is_defined_once_in_the_yaml(section, schema):
    """Each run-config key has one definition: the schema carries types and ranges only, the YAML the value."""
    for f in fields(schema):
        assert f.default is MISSING and f.default_factory is MISSING_FACTORY, f"{section}.{f.name} has a default in the schema"
    in_yaml = set(yaml_defaults(section))
    required_from_group = {"name", "lr_g", "lr_d"} if section == "optimizer" else set()  # each optimizer YAML's own
    assert in_yaml | required_from_group == set(keys_of(schema)), f"{section}: the YAML and the schema list other keys"
    assert not in_yaml & required_from_group


def test_shared_optimizer_keys_are_written_once():
    shared = set(yaml_defaults("optimizer"))
    for path in sorted((CONF / "optimizer").glob("*.yaml")):
        assert not shared & set(OmegaConf.load(path)), f"{path.name} repeats keys of config.yaml's optimizer section"


def test_the_default_jobs_tricks_are_one_preset():
    """Base values are off; conf/preset/default_job.yaml is the only place that turns R1 and EMA on by default."""
    assert yaml_defaults("stabilize")["r1"] == 0 and yaml_defaults("trainer")["ema"] == 0
    on = OmegaConf.to_container(OmegaConf.load(CONF / "preset" / "default_job.yaml"))
    assert on == {"defaults": [{"override /optimizer": "adam_fast"}], "stabilize": {"r1": 0.1, "reg_every": 16},
                  "optimizer": {"schedule": "linear"}, "trainer": {"ema": 0.995, "max_steps": 2400}}
    for path in sorted(CONF.rglob("*.yaml")):  # recipes pick preset=none; none undoes a trick key by key
        text = path.read_text()
        assert "r1: 0.0" not in text or path.name == "config.yaml", f"{path} undoes the default job's R1 by hand"
