"""gwae-bench: Gromov-Wasserstein Autoencoders against VAE-family baselines."""

__version__ = "0.1.0"
