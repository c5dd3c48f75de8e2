# Makes conf/ importable as gan_runner.conf (pyproject maps it), so Hydra finds it as pkg://gan_runner.conf
# from an installed wheel as well as from this checkout.
