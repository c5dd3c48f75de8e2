"""Package discovery by pattern (everything else is in pyproject.toml).

conf/ stays at the top level (the user's design card) and ships inside the wheel as gan_runner.conf,
so `@hydra.main(config_path="pkg://gan_runner.conf")` works from a non-editable install too. pyproject.toml
alone cannot combine a package search with one remapped package, hence these lines.
"""
from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["gan_runner", "gan_runner.*"]), "gan_runner.conf"],
    package_dir={"gan_runner.conf": "conf"},
    package_data={"gan_runner.conf": ["*.yaml", "**/*.yaml"]},
)
