"""A2: ResNet-18 encoder (3x3 stride-1 stem, no max-pool) + linear to the latent; the decoder
mirrors it with nearest-neighbour upsampling. 25.8M parameters at 32x32 with d = 128 (the MoCA
paper says about 24M)."""

import torch.nn.functional as F
from torch import Tensor, nn

from .common import SphereProjection

STAGES = (64, 128, 256, 512)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut.

    ``scale`` 1/2 downsamples with a strided conv, 2 upsamples (nearest) before the first conv.
    """

    def __init__(self, width_in: int, width: int, scale: float = 1.0):
        super().__init__()
        self.scale = scale
        stride = 2 if scale == 0.5 else 1
        self.conv1 = nn.Conv2d(width_in, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.shortcut = nn.Identity()
        if stride != 1 or width_in != width:
            self.shortcut = nn.Sequential(
                nn.Conv2d(width_in, width, 1, stride, bias=False), nn.BatchNorm2d(width)
            )

    def forward(self, x: Tensor) -> Tensor:
        """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), x first upsampled 2x when
        ``scale`` is 2."""
        if self.scale == 2:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetEncoder(nn.Module):
    """A2's encoder: 3x3 stem, four ResNet-18 stages of two ``BasicBlock`` (64, 128, 256, 512
    channels; the last three halve the side), global average pool, linear to d, unit sphere."""

    def __init__(self, channels: int, size: int, latent_dim: int):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(channels, STAGES[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(STAGES[0]),
            nn.ReLU(),
        )
        blocks, width_in = [], STAGES[0]
        for i, width in enumerate(STAGES):
            blocks += [BasicBlock(width_in, width, 0.5 if i else 1.0), BasicBlock(width, width)]
            width_in = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(STAGES[-1], latent_dim),
            SphereProjection(),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Unit-norm codes [B, latent_dim] of images [B, channels, size, size]."""
        return self.head(self.blocks(self.stem(x)))


class ResNetDecoder(nn.Module):
    """A2's decoder, the encoder mirrored: linear to 512 x (s/8)^2, ReLU, four stages of two
    ``BasicBlock`` (512, 256, 128, 64 channels; the last three upsample 2x, nearest), 3x3 conv
    to the channels, sigmoid."""

    def __init__(self, channels: int, size: int, latent_dim: int):
        super().__init__()
        self.side = size // 8
        self.fc = nn.Linear(latent_dim, STAGES[-1] * self.side * self.side)
        widths = STAGES[::-1]  # 512, 256, 128, 64
        blocks, width_in = [], widths[0]
        for i, width in enumerate(widths):
            blocks += [BasicBlock(width_in, width, 2.0 if i else 1.0), BasicBlock(width, width)]
            width_in = width
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Sequential(nn.Conv2d(STAGES[0], channels, 3, 1, 1), nn.Sigmoid())

    def forward(self, z: Tensor) -> Tensor:
        """Images [B, channels, size, size] in [0, 1] of codes [B, latent_dim]."""
        x = self.fc(z).view(len(z), STAGES[-1], self.side, self.side)
        return self.out(self.blocks(F.relu(x)))
