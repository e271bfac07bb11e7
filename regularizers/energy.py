"""Energy distance (Szekely & Rizzo 2013, "Energy statistics"), the bandwidth-free kernel
discrepancy (MMD with the distance kernel; geomloss's ``SamplesLoss("energy")``).

Between codes x (n) and as many prior samples y (m), all pairs included (V-statistic):
    E(x, y) = 2 mean_ij ||x_i - y_j|| - mean_ij ||x_i - x_j|| - mean_ij ||y_i - y_j|| >= 0 ,
twice geomloss's ``SamplesLoss("energy")`` (which halves it). Distances are taken from the
differences, not from |x|^2 + |y|^2 - 2 x.y (whose round-off would put about 3e-4 on the
diagonal of unit vectors), so coincident codes give 0 and a zero gradient.
"""

import torch
from torch import Tensor

from .base import Regularizer, register


def mean_distance(a: Tensor, b: Tensor) -> Tensor:
    """mean_ij ||a_i - b_j|| over all pairs."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist").mean()


def energy_distance(x: Tensor, y: Tensor) -> Tensor:
    """The energy distance (V-statistic) between samples x [n, d] and y [m, d]."""
    return 2.0 * mean_distance(x, y) - mean_distance(x, x) - mean_distance(y, y)


@register
class EnergyDistance(Regularizer):
    """Energy distance between the batch codes and as many prior samples; no hyper-parameter."""

    name = "energy"
    capturable = True
    paper = "Szekely & Rizzo 2013 (Energy statistics); geomloss SamplesLoss('energy')"
    prior_assumption = "any prior it can sample (B prior samples per step)"

    def forward(self, z: Tensor, x: Tensor) -> Tensor:
        """E(z, y) against len(z) fresh prior samples y."""
        y = self.prior.sample(len(z), device=z.device)
        return energy_distance(z, y)
