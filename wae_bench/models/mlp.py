"""The synthetic task's encoder: a 2-layer MLP."""

import torch.nn.functional as F
from torch import Tensor, nn


class MLPEncoder(nn.Module):
    """x -> Linear -> ReLU -> Linear, L2-normalized when the codes live on the sphere."""

    def __init__(self, in_dim: int, hidden_dim: int, latent_dim: int, normalize: bool = True):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, latent_dim)
        )
        self.normalize = normalize

    def forward(self, x: Tensor) -> Tensor:
        """Codes [B, latent_dim] of x [B, in_dim], unit-norm when ``normalize``."""
        z = self.net(x)
        return F.normalize(z, dim=1) if self.normalize else z
