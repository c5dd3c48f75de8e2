"""The run config's own sections are checked by one schema each (config_schema.py): names, types, ranges."""
from __future__ import annotations

import pytest

from gan_runner.config_schema import StabilizeConfig, TrainerConfig, validate
from gan_runner.errors import ConfigError


def test_a_valid_section_becomes_its_schema_with_defaults_filled():
    cfg = validate("trainer", TrainerConfig, {"max_steps": 10, "max_time": 5})
    assert isinstance(cfg, TrainerConfig) and cfg.max_steps == 10 and cfg.max_time == pytest.approx(5.0)
    assert cfg.n_critic == 1 and cfg.on_divergence == "stop"  # defaults


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
    assert validate("stabilize", StabilizeConfig, None).r1 == 0.0
    with pytest.raises(ConfigError, match=r"stabilize.instance_noise_steps must be an integer >= 1 or null, got 0"):
        validate("stabilize", StabilizeConfig, {"instance_noise_steps": 0})
