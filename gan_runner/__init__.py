"""gan-runner: a config-driven experiment runner for the classic GANs."""

__version__ = "0.1.0"
