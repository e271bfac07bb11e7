"""A small conv autoencoder for the embedded 16x16 digits and other small images (fast on CPU).

encoder: Conv(c,32,4,2,1)-BN-ReLU -> Conv(32,64,4,2,1)-BN-ReLU -> Linear(64 (s/4)^2, d)
decoder: Linear(d, 64 (s/4)^2)-ReLU -> ConvT(64,32,4,2,1)-BN-ReLU -> ConvT(32,c,4,2,1) -> sigmoid
"""

from torch import nn

from .common import SphereProjection


def conv_encoder(channels: int, size: int, latent_dim: int) -> nn.Sequential:
    """The conv encoder of the module docstring (sides divisible by 4), ending on the sphere."""
    side = size // 4
    return nn.Sequential(
        nn.Conv2d(channels, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * side * side, latent_dim), SphereProjection(),
    )  # fmt: skip


def conv_decoder(channels: int, size: int, latent_dim: int) -> nn.Sequential:
    """The conv decoder of the module docstring: codes -> images in [0, 1]."""
    side = size // 4
    return nn.Sequential(
        nn.Linear(latent_dim, 64 * side * side), nn.ReLU(), nn.Unflatten(1, (64, side, side)),
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.ConvTranspose2d(32, channels, 4, 2, 1), nn.Sigmoid(),
    )  # fmt: skip
