"""Generation from a trained run: loading it, sampling, discriminator-driven sampling, picture grids."""
