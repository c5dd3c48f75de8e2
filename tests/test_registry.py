"""Registries: name lookup, option checking against builder signatures, and clear ConfigErrors."""
from __future__ import annotations

from typing import Any, Literal

import pytest

import gan_runner.losses  # noqa: F401  (registers losses)
from gan_runner.errors import ConfigError, UserError
from gan_runner.registry import LOSSES, Registry


def make_widget(
    context: str,
    *,
    size: int = 3,
    rate: float = 0.5,
    mode: Literal["fast", "slow"] = "fast",
    tag: str | None = None,
    sizes: list[int] = (1, 2),
    anything: Any = None,
) -> dict[str, Any]:
    """A builder whose options cover every hint kind YAML can express."""
    return {"context": context, "size": size, "rate": rate, "mode": mode, "tag": tag, "sizes": sizes, "anything": anything}


def make_gadget(*, depth: int) -> str:
    """A builder with a required option."""
    return f"gadget{depth}"


class Knob:
    """A class builder: its __init__ hints are what get checked."""

    def __init__(self, *, turns: int = 1, scale: float = 1.0) -> None:
        self.turns, self.scale = turns, scale


@pytest.fixture
def reg() -> Registry:
    r = Registry("thing")
    r.register("widget")(make_widget)
    r.register("gadget")(make_gadget)
    r.register("knob")(Knob)
    return r


def test_build_passes_context_and_options(reg: Registry) -> None:
    out = reg.build("widget", "ctx", options={"size": 7, "mode": "slow", "tag": "hello", "sizes": [4, 5]})
    assert out == {"context": "ctx", "size": 7, "rate": 0.5, "mode": "slow", "tag": "hello", "sizes": [4, 5],
                   "anything": None}
    assert reg.build("widget", "ctx")["size"] == 3  # defaults without options


def test_names_contains_and_options(reg: Registry) -> None:
    assert reg.names() == ["gadget", "knob", "widget"]
    assert "widget" in reg and "nope" not in reg
    assert set(reg.options("widget")) == {"size", "rate", "mode", "tag", "sizes", "anything"}  # not `context`
    assert set(reg.options("knob")) == {"turns", "scale"}


def test_unknown_name_lists_known_ones(reg: Registry) -> None:
    with pytest.raises(ConfigError, match=r"unknown thing 'widgit' \(known: gadget, knob, widget\)"):
        reg.build("widgit", "ctx")


def test_config_error_is_a_user_error() -> None:
    assert issubclass(ConfigError, UserError)


def test_typo_option_names_valid_options(reg: Registry) -> None:
    msg = r"thing 'widget' has no option 'sise' \(options: anything, mode, rate, size, sizes, tag\)"
    with pytest.raises(ConfigError, match=msg):
        reg.build("widget", "ctx", options={"sise": 4})


def test_context_parameter_is_not_an_option(reg: Registry) -> None:
    with pytest.raises(ConfigError, match="has no option 'context'"):
        reg.build("widget", "ctx", options={"context": "x"})


@pytest.mark.parametrize(
    "key,value",
    [
        ("size", "3"),  # str for int
        ("size", True),  # bool for int
        ("size", 3.0),  # float for int
        ("size", None),  # null for int
        ("rate", "0.5"),  # str for float
        ("rate", False),  # bool for float
        ("mode", "medium"),  # not in the Literal
        ("tag", 5),  # int for str | None
        ("sizes", 3),  # scalar for a list
        ("sizes", [1, "2"]),  # wrong element type
    ],
)
def test_wrong_type_is_config_error(reg: Registry, key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=rf"thing 'widget' option '{key}' must be"):
        reg.build("widget", "ctx", options={key: value})


def test_error_message_says_expected_type(reg: Registry) -> None:
    with pytest.raises(ConfigError, match=r"option 'mode' must be one of 'fast', 'slow', got 'medium'"):
        reg.build("widget", "ctx", options={"mode": "medium"})
    with pytest.raises(ConfigError, match=r"option 'tag' must be str or null, got 5"):
        reg.build("widget", "ctx", options={"tag": 5})


@pytest.mark.parametrize(
    "key,value",
    [("rate", 2), ("rate", 0.25), ("mode", "slow"), ("tag", None), ("tag", "x"), ("sizes", (7,)),
     ("anything", object())],
)
def test_accepted_values(reg: Registry, key: str, value: Any) -> None:
    out = reg.build("widget", "ctx", options={key: value})
    assert out[key] == value


def test_missing_required_option(reg: Registry) -> None:
    with pytest.raises(ConfigError, match=r"thing 'gadget' needs option 'depth'"):
        reg.build("gadget")
    assert reg.build("gadget", options={"depth": 2}) == "gadget2"


def test_duplicate_registration_raises(reg: Registry) -> None:
    with pytest.raises(ConfigError, match="thing 'widget' is already registered by gan-runner"):
        reg.register("widget")(make_gadget)
    assert reg.build("widget", "ctx")["context"] == "ctx"  # the first builder is kept


def test_class_builder_init_hints_are_checked(reg: Registry) -> None:
    knob = reg.build("knob", options={"turns": 4, "scale": 2})
    assert isinstance(knob, Knob) and (knob.turns, knob.scale) == (4, 2)
    with pytest.raises(ConfigError, match=r"thing 'knob' option 'turns' must be int, got 'many'"):
        reg.build("knob", options={"turns": "many"})


def test_loss_class_builders_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"loss 'wgan' option 'clip' must be float, got 'x'"):
        LOSSES.build("wgan", options={"clip": "x"})
    with pytest.raises(ConfigError, match=r"loss 'ns' has no option 'clip' \(options: label_smoothing\)"):
        LOSSES.build("ns", options={"clip": 0.1})
    assert LOSSES.build("wgan", options={"clip": 1}).clip == 1  # int accepted for float


def test_temporarily_registers_only_inside_the_block() -> None:
    r = Registry("thing")
    with r.temporarily("tmp", lambda: 1):
        assert "tmp" in r
    assert "tmp" not in r and r.names() == []


def test_misspelled_names_and_options_get_a_suggestion(reg: Registry) -> None:
    with pytest.raises(ConfigError, match=r"has no option 'sise' \(options: .*\); did you mean 'size'\?$"):
        reg.build("widget", "ctx", options={"sise": 2})
    with pytest.raises(ConfigError, match=r"unknown thing 'widgit' \(known: gadget, knob, widget\); did you mean 'widget'\?$"):
        reg.get("widgit")
    with pytest.raises(ConfigError, match=r"unknown thing 'zzz' \(known: gadget, knob, widget\)$"):
        reg.get("zzz")  # nothing close: no suggestion
