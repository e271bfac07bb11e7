"""Sliced Wasserstein AE (Kolouri et al. 2018).

Codes a and prior samples b (the same number n) are projected on L random unit directions
theta_l; each projection is sorted and the penalty is
    SWD_p^p = (1 / (L n)) sum_l sum_i |(a theta_l)_(i) - (b theta_l)_(i)|^p ,
the Monte-Carlo estimate of the sliced p-Wasserstein distance to the power p.
Defaults: L = 50, p = 2, fresh directions every step.
"""

import numpy as np
import torch
from torch import Tensor

from . import _checks
from .base import Regularizer, register
from .search import SLICES_LIMIT, Range


def random_directions(dim: int, n: int, device=None, generator=None) -> Tensor:
    """[dim, n] matrix whose columns are uniform on the unit sphere S^{dim-1}."""
    g = torch.randn(dim, n, device=device, generator=generator)
    return g / g.norm(dim=0, keepdim=True)


def fast_sort(x: Tensor, dim: int = 0) -> Tensor:
    """Sort x ascending along ``dim``, keeping gradients (argsort, then gather).

    On CPU numpy's sort is used: on AVX-512 machines it is about 20x faster than
    ``torch.sort`` on a 1000 x 1000 matrix and about 2x on a 64 x 50 batch.
    """
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return torch.sort(x, dim=dim).values
    if x.requires_grad:
        order = torch.from_numpy(np.argsort(x.detach().numpy(), axis=dim))
        return x.gather(dim, order)
    return torch.from_numpy(np.sort(x.numpy(), axis=dim))


def sliced_wasserstein(a: Tensor, b: Tensor, directions: Tensor, p: float = 2.0) -> Tensor:
    """Mean over directions and order statistics of |sorted(a theta) - sorted(b theta)|^p.

    a, b: [n, d] with the same n; directions: [d, L] unit columns. Returns SW_p^p; its
    1/p-th power is POT's ``ot.sliced_wasserstein_distance`` with the same projections.
    """
    return sorted_projection_distance(
        fast_sort(a @ directions), fast_sort(b @ directions), p
    )  # n x L each


def sorted_projection_distance(sorted_a: Tensor, sorted_b: Tensor, p: float = 2.0) -> Tensor:
    """SW_p^p from the projections of two sets [n, L], each sorted per column (direction)."""
    if len(sorted_a) != len(sorted_b):
        raise ValueError(
            f"sliced Wasserstein needs equal sample counts, got {len(sorted_a)} and {len(sorted_b)}"
        )
    return (sorted_a - sorted_b).abs().pow(p).mean()


@register
class SlicedWasserstein(Regularizer):
    """SW_p^p between the batch codes and as many prior samples along L fresh directions.

    Args:
        L: number of random projections per step.
        p: exponent of the 1-D Wasserstein distance (>= 1).
    """

    name = "swd"
    capturable = True
    search_space = {"L": Range(10, 4000, "log", integer=True, high_limit=SLICES_LIMIT)}
    paper = "Kolouri et al., ICLR 2019 (Sliced-Wasserstein Autoencoder)"
    prior_assumption = "any prior it can sample (B prior samples per step)"

    def __init__(self, L: int = 50, p: float = 2.0):
        super().__init__()
        self.L = _checks.positive_int("swd.L", L)
        self.p = _checks.wasserstein_order("swd.p", p)

    def forward(self, z: Tensor, x: Tensor) -> Tensor:
        """SW_p^p between z and len(z) fresh prior samples along L fresh directions."""
        y = self.prior.sample(len(z), device=z.device)
        directions = random_directions(z.shape[1], self.L, device=z.device)
        return sliced_wasserstein(z, y, directions, self.p)
