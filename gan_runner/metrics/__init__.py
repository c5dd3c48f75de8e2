"""Sample-quality measures."""
from gan_runner.metrics.two_sample import nn_two_sample_accuracy

__all__ = ["nn_two_sample_accuracy"]
