"""Uniformity loss (Wang & Isola, ICML 2020, "Understanding Contrastive Representation
Learning through Alignment and Uniformity"): MoCA's target without a queue or a key encoder.

For the n codes of a batch, over the n (n - 1) ordered pairs of distinct codes,
    L_unif = log (1 / (n (n - 1))) sum_{i != j} exp(-t ||z_i - z_j||^2) ,
the log of the mean Gaussian potential; on the unit sphere its population form is minimized by
the uniform distribution. Computed as a logsumexp (no overflow at any t). Default t = 2 (the
paper's). Needs codes on the sphere (on R^d it pushes codes apart without bound) and a batch of
at least 2.
"""

import math

import torch
from torch import Tensor

from . import _checks
from .base import Regularizer, register
from .mmd import squared_distances
from .search import Range


def uniformity(z: Tensor, t: float = 2.0) -> Tensor:
    """log of the mean of exp(-t ||z_i - z_j||^2) over the pairs i != j of z [n, d], n >= 2."""
    n = len(z)
    same = torch.eye(n, dtype=torch.bool, device=z.device)
    potentials = (-t * squared_distances(z, z)).masked_fill(same, float("-inf"))
    return torch.logsumexp(potentials.flatten(), 0) - math.log(n * (n - 1))


@register
class Uniformity(Regularizer):
    """Wang & Isola's uniformity loss of the batch codes; needs the sphere prior.

    Args:
        t: the Gaussian potential's scale (> 0).
    """

    name = "unif"
    capturable = True
    search_space = {"t": Range(0.5, 10.0, "log")}
    min_batch_size = 2  # a mean over pairs of distinct codes
    paper = "Wang & Isola, ICML 2020 (Alignment and Uniformity), uniformity loss"
    prior_assumption = "uniform on the unit sphere (draws no samples; refuses another prior)"

    def __init__(self, t: float = 2.0):
        super().__init__()
        self.t = _checks.positive_float("unif.t", t)

    def bind(self, encoder, prior, plan):
        """Refuse a prior off the unit sphere."""
        super().bind(encoder, prior, plan)
        if not prior.on_sphere:
            raise ValueError("unif needs codes on the unit sphere; use the sphere prior")

    def forward(self, z: Tensor, x: Tensor) -> Tensor:
        """L_unif of the batch codes z at scale t (x is not used)."""
        return uniformity(z, self.t)
