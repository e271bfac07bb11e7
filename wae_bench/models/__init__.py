"""Encoders and decoders. Every image encoder ends on the unit sphere; decoders end in a
sigmoid (images in [0, 1])."""

from torch import nn

from .conv import conv_decoder, conv_encoder
from .dcgan import dcgan_decoder, dcgan_encoder
from .mlp import MLPEncoder
from .resnet import ResNetDecoder, ResNetEncoder

# name -> (encoder factory, decoder factory, supported image sizes)
ARCHITECTURES = {
    "conv": (conv_encoder, conv_decoder, (16, 32, 64)),
    "a1": (dcgan_encoder, dcgan_decoder, (32, 64)),
    "a2": (ResNetEncoder, ResNetDecoder, (32, 64)),
}


def build_autoencoder(arch: str, channels: int, size: int, latent_dim: int):
    """(encoder, decoder) of architecture ``arch`` for [channels, size, size] images."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")
    make_encoder, make_decoder, sizes = ARCHITECTURES[arch]
    if size not in sizes:
        raise ValueError(
            f"architecture {arch} supports {', '.join(map(str, sizes))} px images, got {size} px; "
            "pick another --arch or dataset"
        )
    return make_encoder(channels, size, latent_dim), make_decoder(channels, size, latent_dim)


def parameter_count(*modules: nn.Module) -> int:
    """Total number of parameters of ``modules``."""
    return sum(p.numel() for m in modules for p in m.parameters())


__all__ = ["ARCHITECTURES", "MLPEncoder", "build_autoencoder", "parameter_count"]
