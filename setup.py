"""Package discovery by pattern (everything else is in pyproject.toml).

conf/ stays at the top level (the user's design card) and ships inside the wheel as gan_runner.conf,
so `@hydra.main(config_path="pkg://gan_runner.conf")` works from a non-editable install too. pyproject.toml
alone cannot combine a package search with one remapped package, hence these lines.
"""
from pathlib import Path

from setuptools import find_packages, setup

# Every folder of conf/ is a (data-only) package: listing them keeps setuptools from warning that
# gan_runner.conf.model etc. are importable but absent from `packages`.
CONF_PACKAGES = ["gan_runner.conf", *("gan_runner.conf." + ".".join(d.relative_to("conf").parts)
                                      for d in sorted(Path("conf").rglob("*")) if d.is_dir())]

setup(
    packages=[*find_packages(include=["gan_runner", "gan_runner.*"]), *CONF_PACKAGES],
    package_dir={"gan_runner.conf": "conf"},
    package_data={p: ["*.yaml"] for p in CONF_PACKAGES},
)
