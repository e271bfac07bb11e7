"""A1: the WAE paper's DCGAN-like autoencoder, batch norm in every hidden layer.

encoder: 4 x [Conv 4x4 stride 2 (128, 256, 512, 1024) -> BN -> ReLU] -> Linear to d
decoder: Linear to (s/8)^2 x 1024 -> BN -> ReLU
         -> 3 x [ConvT 5x5 stride 2 (512, 256, 128) -> BN -> ReLU] -> ConvT 5x5 stride 1 to c
         -> sigmoid
The WAE text fixes the widths, not every kernel size: 4x4 encoder and 5x5 decoder kernels give
38.7M parameters at 64x64 with d = 128, the "about 38M" the MoCA paper quotes.
"""

from torch import nn

from .common import SphereProjection

WIDTHS = (128, 256, 512, 1024)


def _block(conv: nn.Module, width: int) -> list[nn.Module]:
    return [conv, nn.BatchNorm2d(width), nn.ReLU()]


def dcgan_encoder(channels: int, size: int, latent_dim: int) -> nn.Sequential:
    """A1's encoder for sides divisible by 16: 4 stride-2 4x4 conv blocks (128 to 1024), a
    linear map to d, the unit sphere."""
    layers: list[nn.Module] = []
    width_in = channels
    for width in WIDTHS:
        layers += _block(nn.Conv2d(width_in, width, 4, 2, 1, bias=False), width)
        width_in = width
    side = size // 16
    layers += [nn.Flatten(), nn.Linear(WIDTHS[-1] * side * side, latent_dim), SphereProjection()]
    return nn.Sequential(*layers)


def dcgan_decoder(channels: int, size: int, latent_dim: int) -> nn.Sequential:
    """A1's decoder: a linear map to 1024 x (s/8)^2, 3 stride-2 5x5 transposed conv blocks
    (512, 256, 128), a 5x5 transposed conv to c, a sigmoid."""
    side = size // 8
    layers: list[nn.Module] = [
        nn.Linear(latent_dim, WIDTHS[-1] * side * side, bias=False),
        nn.Unflatten(1, (WIDTHS[-1], side, side)),
        nn.BatchNorm2d(WIDTHS[-1]),
        nn.ReLU(),
    ]
    widths = WIDTHS[::-1]  # 1024, 512, 256, 128
    for width_in, width in zip(widths, widths[1:], strict=False):
        upsample = nn.ConvTranspose2d(width_in, width, 5, 2, 2, output_padding=1, bias=False)
        layers += _block(upsample, width)
    layers += [nn.ConvTranspose2d(widths[-1], channels, 5, 1, 2), nn.Sigmoid()]
    return nn.Sequential(*layers)
