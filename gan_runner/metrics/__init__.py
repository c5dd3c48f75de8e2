"""Sample-quality measures."""
from gan_runner.metrics.frechet import frechet_distance
from gan_runner.metrics.two_sample import nn_two_sample_accuracy

__all__ = ["frechet_distance", "nn_two_sample_accuracy"]
