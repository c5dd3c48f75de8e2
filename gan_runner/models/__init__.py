"""GAN variants; importing this package registers every model builder."""
from gan_runner.models import acgan, cgan, dcgan, gan, infogan, sngan  # noqa: F401  (registration side effects)
from gan_runner.models.base import DOut, GANModel, Latent

__all__ = ["DOut", "GANModel", "Latent"]
