"""Adversarial losses; importing this package registers every loss."""
from gan_runner.losses import relativistic, standard, wasserstein  # noqa: F401  (registration side effects)
from gan_runner.losses.base import AdversarialLoss

__all__ = ["AdversarialLoss"]
