"""gan-runner plugin example: importing the package registers a model, a loss, a dataset, a metric and a feature net.

Its YAMLs are in conf/ beside this file; gan-runner adds that folder to Hydra's search path, so
`gan-run model=resnet loss=wgan_lp dataset=blobs` composes with no extra flags.
"""
from gan_runner_example import blobs, features, metric, resnet, wgan_lp  # noqa: F401  (registration side effects)
