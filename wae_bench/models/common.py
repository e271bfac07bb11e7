"""Layers shared by the architectures."""

import torch.nn.functional as F
from torch import Tensor, nn


class SphereProjection(nn.Module):
    """z -> z / ||z||: every encoder ends on the unit sphere."""

    def forward(self, z: Tensor) -> Tensor:
        """Each row z of ``z`` divided by ||z||."""
        return F.normalize(z, dim=1)
