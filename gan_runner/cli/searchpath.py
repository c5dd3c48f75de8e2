"""Hydra's search-path plugin for gan-runner plugins: their conf/ folders join the config search path.

A SearchPathPlugin is Hydra's documented way to extend the search path (hydra's example_searchpath_plugin);
gan-run registers this one with Hydra before it starts (an editable install hides the `hydra_plugins` namespace
from Hydra's scan, so discovery by namespace is not relied on). gan-run has already imported the installed and
named plugins by then, so `gan-run --help` lists their options and `model=NAME` composes with no extra flags.
"""
from __future__ import annotations

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.plugins import Plugins
from hydra.plugins.search_path_plugin import SearchPathPlugin

from gan_runner.plugins import loaded, search_path


class GanRunnerPluginsSearchPath(SearchPathPlugin):
    """Appends each loaded gan-runner plugin's conf/ folder (file://) after gan-runner's own config."""

    def manipulate_search_path(self, search_path_: ConfigSearchPath) -> None:
        for path in search_path(loaded()):
            search_path_.append(provider="gan-runner-plugin", path=path)


def register() -> None:
    """Make Hydra use the plugin (idempotent)."""
    plugins = Plugins.instance()
    if GanRunnerPluginsSearchPath not in plugins.discover(SearchPathPlugin):
        plugins.register(GanRunnerPluginsSearchPath)
