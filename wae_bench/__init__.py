"""wae-bench: a benchmark of latent regularizers for Wasserstein autoencoders."""

__version__ = "0.1.0"
