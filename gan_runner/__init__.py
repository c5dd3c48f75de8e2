"""gan-runner: a config-driven experiment runner for the classic GANs.

The registration API for plugins (docs/PLUGINS.md) and gan-runner's own builders alike:
`register_model`, `register_loss`, `register_optimizer`, `register_dataset` (gan_runner.registry) and
`register_metric`, `register_feature_net` (gan_runner.metrics.registry, imported on first use: it pulls in the
metrics package).
"""
from typing import Any

from gan_runner.registry import register_dataset, register_loss, register_model, register_optimizer

__version__ = "0.1.0"
__all__ = ["register_dataset", "register_feature_net", "register_loss", "register_metric", "register_model",
           "register_optimizer"]


def __getattr__(name: str) -> Any:
    if name in ("register_metric", "register_feature_net"):
        from gan_runner.metrics import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'gan_runner' has no attribute {name!r}")
