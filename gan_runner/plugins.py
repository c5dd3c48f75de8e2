"""Plugins: models, losses, datasets, optimizers and metrics from outside the package, found the ecosystem's way.

An installed package declares an entry point in the group `gan_runner.plugins` (as pytest and Hydra find theirs);
importing the module it names registers its builders through the public decorators (`gan_runner.register_model`,
...). A module or .py file named on the command line (`gan-run 'plugins=[./my_gan.py]'`, `gan-sample --plugin`,
or GAN_RUNNER_PLUGINS) is imported the same way, for iterating without packaging. A plugin's YAMLs live in a
`conf/` folder beside its module (conf/model/NAME.yaml, ...) and join Hydra's search path, so
`gan-run model=my_model` composes with no extra flags.

Safety as before: only what the user installed or named on the command line is imported. A run records which
plugin registered each name it used (`used_plugins`); loading that run elsewhere checks they are present
(`require`) and says in one line which package to install or which --plugin to pass; nothing in a run dir or
checkpoint is ever imported.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from gan_runner.errors import ConfigError, UserError
from gan_runner.registry import DATASETS, LOSSES, MODELS, OPTIMIZERS, Registry, set_owner

GROUP = "gan_runner.plugins"
ENV = "GAN_RUNNER_PLUGINS"  # os.pathsep-separated modules or .py files, as if named with plugins=[...]
NO_ENTRY_POINTS = "GAN_RUNNER_NO_ENTRY_POINTS"  # "1": ignore installed plugins (the test suite: built-ins only)


@dataclass(frozen=True)
class Plugin:
    """One imported plugin: what the user would install or pass again to load it."""

    name: str  # the entry point's name, or the file/module as given
    module: str  # the imported module's name
    source: str  # "entry-point" or "file" (a .py file or module named on the command line)
    distribution: str | None = None  # the installed package that declares the entry point
    version: str | None = None
    conf: Path | None = None  # its conf/ folder (Hydra search path), if it has one

    def record(self) -> dict[str, Any]:
        """What a run stores about it (plain values: checkpoints load with weights_only=True)."""
        return {"plugin": self.name, "source": self.source, "distribution": self.distribution, "version": self.version}


_LOADED: dict[str, Plugin] = {}  # by plugin name
_FAILED: dict[str, str] = {}  # plugin name -> the one-line import error


def _builtins() -> None:
    """Register gan-runner's own builders first, so a plugin reusing one of their names is the one refused."""
    import gan_runner.data  # noqa: F401
    import gan_runner.losses  # noqa: F401
    import gan_runner.metrics  # noqa: F401
    import gan_runner.models  # noqa: F401
    import gan_runner.optim  # noqa: F401


def _conf_of(module: Any) -> Path | None:
    """The `conf/` folder beside a plugin module (its package folder for a package)."""
    where = Path(getattr(module, "__file__", "") or "")
    conf = where.parent / "conf"
    return conf if where.name and conf.is_dir() else None


def _one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:200]}" if lines else type(e).__name__


def load_installed(*, warn: bool = True) -> list[Plugin]:
    """Import every installed entry-point plugin once; one that fails is reported in one line and skipped."""
    if os.environ.get(NO_ENTRY_POINTS) == "1":
        return list(_LOADED.values())
    todo = [ep for ep in importlib.metadata.entry_points(group=GROUP) if ep.name not in _LOADED and ep.name not in _FAILED]
    if todo:  # without plugins nothing is imported here: `gan-run --help` stays fast
        _builtins()
    for ep in todo:
        dist = ep.dist.name if ep.dist is not None else None
        try:
            with set_owner(ep.name):
                module = importlib.import_module(ep.value.split(":")[0])
        except Exception as e:  # a broken plugin must not break runs that do not use it
            _FAILED[ep.name] = _one_line(e)
            if warn:
                print(f"warning: plugin '{ep.name}' ({dist}) failed to import and is skipped: {_FAILED[ep.name]}",
                      file=sys.stderr)
            continue
        version = ep.dist.version if ep.dist is not None else None
        _LOADED[ep.name] = Plugin(ep.name, module.__name__, "entry-point", dist, version, _conf_of(module))
    return list(_LOADED.values())


def load_named(names: Iterable[str]) -> list[Plugin]:
    """Import plugins named on the command line: .py files (by path) or importable module names."""
    names = [str(n).strip() for n in names if str(n).strip()]
    if names:
        _builtins()
    out = []
    for name in names:
        if name in _LOADED:
            out.append(_LOADED[name])
            continue
        path = Path(name).expanduser()
        try:
            with set_owner(name):
                if name.endswith(".py") or path.is_file():
                    if not path.is_file():
                        raise ConfigError(f"plugin file {name} does not exist")
                    module = _import_file(path)
                else:
                    module = importlib.import_module(name)
        except UserError:
            raise
        except ModuleNotFoundError as e:
            raise ConfigError(f"plugin '{name}' is neither a .py file nor an importable module ({_one_line(e)})") from None
        except Exception as e:
            raise ConfigError(f"plugin '{name}' failed to import: {_one_line(e)}") from None
        _LOADED[name] = Plugin(name, module.__name__, "file", conf=_conf_of(module))
        out.append(_LOADED[name])
    return out


def _import_file(path: Path) -> Any:
    """Import a .py file as a module named after its resolved path (the same file twice is one module)."""
    path = path.resolve()
    name = "gan_runner_plugin_" + "".join(c if c.isalnum() else "_" for c in path.with_suffix("").as_posix())
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def from_env() -> list[str]:
    """Plugins named in GAN_RUNNER_PLUGINS."""
    return [p for p in os.environ.get(ENV, "").split(os.pathsep) if p.strip()]


def activate(named: Iterable[str] = ()) -> list[Plugin]:
    """Installed plugins plus the named ones (and GAN_RUNNER_PLUGINS'): what every entry point calls first."""
    load_installed()
    load_named([*from_env(), *named])
    return list(_LOADED.values())


def loaded() -> list[Plugin]:
    """The plugins imported so far in this process."""
    return list(_LOADED.values())


def search_path(plugins: Iterable[Plugin]) -> list[str]:
    """Hydra search-path entries for the plugins' conf/ folders."""
    return [f"file://{p.conf}" for p in plugins if p.conf is not None]


# ------------------------------------------------------------------------ what a run used, and loading it again
def _used_names(config: Mapping[str, Any]) -> list[tuple[Registry, str, str]]:
    """(registry, config key, name) for every registry name a run config uses."""
    from gan_runner.metrics.registry import METRICS

    used = []
    for key, reg in (("model", MODELS), ("loss", LOSSES), ("dataset", DATASETS), ("optimizer", OPTIMIZERS)):
        section = config.get(key)
        if isinstance(section, Mapping) and isinstance(section.get("name"), str):
            used.append((reg, key, section["name"]))
    ecfg = config.get("eval") or {}
    from gan_runner.metrics.registry import FEATURE_NETS

    if isinstance(ecfg.get("features"), str) and ecfg["features"] in FEATURE_NETS:
        used.append((FEATURE_NETS, "eval.features", ecfg["features"]))
    for metric in [*(ecfg.get("metrics") or []), *(p for p in (ecfg.get("periodic") or []) if p != "auto")]:
        if isinstance(metric, str):
            used.append((METRICS, "eval.metrics", metric))
    return used


def used_plugins(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Which plugin registered each name the run uses: [{kind, name, plugin, source, distribution, version}]."""
    out = []
    for reg, key, name in _used_names(config):
        owner = reg.owner(name) if name in reg else None
        if owner is not None and owner in _LOADED:
            out.append({"kind": key, "name": name, **_LOADED[owner].record()})
    return out


def require(recorded: Iterable[Mapping[str, Any]] | None, *, how: str = "--plugin") -> None:
    """Check that every plugin a run recorded is loaded now; one UserError line saying how to get it otherwise."""
    from gan_runner.metrics.registry import FEATURE_NETS, METRICS

    registries = {"model": MODELS, "loss": LOSSES, "dataset": DATASETS, "optimizer": OPTIMIZERS, "eval.metrics": METRICS,
                  "eval.features": FEATURE_NETS}
    for entry in recorded or []:
        reg = registries.get(str(entry.get("kind")))
        name, plugin = str(entry.get("name")), str(entry.get("plugin"))
        if reg is None or name in reg:
            continue
        what = f"this run's {entry.get('kind')} '{name}' comes from plugin '{plugin}'"
        if plugin in _FAILED:
            raise UserError(f"{what}, which failed to import: {_FAILED[plugin]}")
        if entry.get("source") == "entry-point":
            dist, version = entry.get("distribution") or plugin, entry.get("version")
            raise UserError(f"{what}, which is not installed: pip install '{dist}{'==' + version if version else ''}'")
        raise UserError(f"{what} (a file or module named on the command line): pass {how} {plugin}")


@contextmanager
def clean_slate() -> Iterator[None]:
    """Forget loaded plugins inside the block (tests)."""
    loaded, failed = dict(_LOADED), dict(_FAILED)
    try:
        yield
    finally:
        _LOADED.clear(), _LOADED.update(loaded)
        _FAILED.clear(), _FAILED.update(failed)
