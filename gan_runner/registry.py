"""Name-keyed registries of builders, with option checking against each builder's signature.

A builder's leading positional parameters are context the runner passes (data spec, parameters);
its keyword-only parameters are the options a YAML file may set. Nothing here imports by dotted
path, so no config or checkpoint can make the program load arbitrary code.
"""
from __future__ import annotations

import difflib
import inspect
import types
import typing
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Mapping

from gan_runner.errors import ConfigError

_NUMERIC = (int, float)
_OWNER: list[str | None] = [None]  # the plugin being imported (gan_runner.plugins sets it), else None


@contextmanager
def set_owner(plugin: str) -> Iterator[None]:
    """Inside the block, registrations are recorded as the named plugin's (its import)."""
    before, _OWNER[0] = _OWNER[0], plugin
    try:
        yield
    finally:
        _OWNER[0] = before


class Registry:
    """Maps names to builder callables for one kind of thing (model, loss, optimizer, dataset)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._builders: dict[str, Callable[..., Any]] = {}
        self._owners: dict[str, str | None] = {}  # name -> the plugin that registered it (None: gan-runner itself)

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register a builder (function or class) under `name` (public as gan_runner.register_<kind>)."""

        def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
            if not isinstance(name, str) or not name:
                raise ConfigError(f"a {self.kind} needs a non-empty string name, got {name!r}")
            if name in self._builders:
                by = self._owners.get(name)
                raise ConfigError(f"{self.kind} '{name}' is already registered by {f'plugin {by!r}' if by else 'gan-runner'}"
                                  f"{f'; plugin {_OWNER[0]!r} cannot register it again' if _OWNER[0] else ''} (pick another name)")
            self._builders[name] = fn
            self._owners[name] = _OWNER[0]
            return fn

        return wrap

    def owner(self, name: str) -> str | None:
        """The plugin that registered `name` (None for gan-runner's own builders)."""
        self.get(name)
        return self._owners.get(name)

    @contextmanager
    def temporarily(self, name: str, fn: Callable[..., Any]) -> Iterator[None]:
        """Register `fn` under `name` only inside the block (tests and experiments that must not leak)."""
        self.register(name)(fn)
        try:
            yield
        finally:
            del self._builders[name]
            self._owners.pop(name, None)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._builders)

    def __contains__(self, name: str) -> bool:
        return name in self._builders

    def get(self, name: str) -> Callable[..., Any]:
        """The builder for `name`, or a ConfigError listing the known names."""
        if name not in self._builders:
            close = difflib.get_close_matches(str(name), self.names(), n=1)
            raise ConfigError(f"unknown {self.kind} '{name}' (known: {', '.join(self.names())})"
                              + (f"; did you mean '{close[0]}'?" if close else ""))
        return self._builders[name]

    def options(self, name: str) -> dict[str, inspect.Parameter]:
        """The keyword-only parameters of a builder: the options its YAML may set."""
        sig = inspect.signature(self.get(name))
        return {p.name: p for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY}

    def build(self, name: str, *context: Any, options: Mapping[str, Any] | None = None) -> Any:
        """Call the builder with context args and checked options; bad options raise ConfigError."""
        builder = self.get(name)
        opts = dict(options or {})
        self.check_options(name, opts)
        return builder(*context, **opts)

    def check_options(self, name: str, opts: Mapping[str, Any]) -> None:
        """Raise ConfigError for unknown, missing or wrongly typed options."""
        known = self.options(name)
        for key in opts:
            if key not in known:
                close = difflib.get_close_matches(key, list(known), n=1)
                raise ConfigError(
                    f"{self.kind} '{name}' has no option '{key}' (options: {', '.join(sorted(known)) or 'none'})"
                    + (f"; did you mean '{close[0]}'?" if close else "")
                )
        builder = self.get(name)
        hints = typing.get_type_hints(builder.__init__ if inspect.isclass(builder) else builder)
        for key, param in known.items():
            if key not in opts:
                if param.default is inspect.Parameter.empty:
                    raise ConfigError(f"{self.kind} '{name}' needs option '{key}'")
                continue
            expected = hints.get(key)
            if expected is not None and not matches_hint(opts[key], expected):
                raise ConfigError(
                    f"{self.kind} '{name}' option '{key}' must be {_type_name(expected)}, got {opts[key]!r}"
                )


def matches_hint(value: Any, hint: Any) -> bool:
    """Whether a YAML value already has an annotation's type (ints count as floats, bools as nothing else): the one
    type check of builder options (here) and of the run config's sections (config_schema.validate)."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches_hint(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (list, tuple, Iterable, typing.Sequence) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return not args or all(matches_hint(v, args[0]) for v in value)
    if hint is float:
        return isinstance(value, _NUMERIC) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", str(hint))


MODELS = Registry("model")
LOSSES = Registry("loss")
OPTIMIZERS = Registry("optimizer")
DATASETS = Registry("dataset")

# The public registration API (gan_runner.register_model & co.): gan-runner's own builders use these same decorators.
register_model = MODELS.register
register_loss = LOSSES.register
register_optimizer = OPTIMIZERS.register
register_dataset = DATASETS.register
