"""Spherical sliced Wasserstein (Bonet et al., ICLR 2023, "Spherical Sliced-Wasserstein").

Codes on the sphere S^{d-1} are projected on L random great circles. A great circle is a frame
U of the Stiefel manifold V_{d,2} (d x 2, U^T U = I_2, drawn uniformly); x goes to the point
U^T x / ||U^T x|| of the circle, written as its coordinate on a circle of length 1,
    t = (pi + atan2(-(U^T x)_2, -(U^T x)_1)) / (2 pi)  in [0, 1).
The penalty is the Monte-Carlo estimate SSW_p^p = (1 / L) sum_l W_p^p(codes_l, prior_l) of
the circular p-Wasserstein distances (geodesic cost) between the projected sets.

Against the uniform prior on the sphere (projected: uniform on the circle) and p = 2, W_2^2
has a closed form (Bonet et al., Prop. 1: W_2^2 = int_0^1 |F^{-1}(s) - s - a|^2 ds with
a = mean(t) - 1/2). For n codes with sorted coordinates t_(1) <= ... <= t_(n), integrating
over each step of F^{-1} gives, with g_i = t_(i) - (i - 1/2) / n the deviation from the
evenly spaced grid,
    W_2^2 = (1 / n) sum_i (g_i - mean(g))^2 + 1 / (12 n^2) ,
so no prior samples are drawn (and no terms of size 1/3 cancel in float32).

Otherwise the codes meet as many prior samples. Two sets of n equal masses on the circle are
best matched by a cyclic shift of their sorted coordinates, one set lifted by +-1 where the
shift wraps (the circle cut open at the best point),
    W_p^p = min_{k = -(n-1) .. n-1} (1 / n) sum_i |s_(i) - r_(i+k)|^p ,
r extended periodically, r_(j + n) = r_(j) + 1. The best shift is searched without gradients
in blocks of shifts (no host reads); the value is then recomputed with gradients at it.
Defaults: L = 50 (as swd), p = 2.
"""

import math

import torch
from torch import Tensor

from . import _checks
from .base import Regularizer, register
from .priors import SpherePrior
from .search import SLICES_LIMIT, Range
from .swd import fast_sort

BLOCK_ELEMENTS = 2**24  # |s - r| entries (shifts x samples x circles) searched at once


def random_great_circles(dim: int, n: int, device=None, generator=None) -> Tensor:
    """[n, dim, 2]: n frames uniform on the Stiefel manifold V_{dim,2} (Gram-Schmidt of two
    Gaussian vectors, the Haar distribution)."""
    g = torch.randn(n, dim, 2, device=device, generator=generator)
    first = g[..., 0] / g[..., 0].norm(dim=1, keepdim=True)
    second = g[..., 1] - (first * g[..., 1]).sum(1, keepdim=True) * first
    return torch.stack([first, second / second.norm(dim=1, keepdim=True)], dim=2)


def circle_coordinates(x: Tensor, frames: Tensor) -> Tensor:
    """[n, L] coordinates in [0, 1) of the points x [n, d] projected on the L great circles
    ``frames`` [L, d, 2] (atan2 needs no normalization of U^T x)."""
    dim, circles = x.shape[1], len(frames)
    planar = (x @ frames.permute(1, 0, 2).reshape(dim, 2 * circles)).view(len(x), circles, 2)
    angle = torch.atan2(-planar[..., 1], -planar[..., 0])
    return torch.remainder((angle + math.pi) / (2 * math.pi), 1.0)


def w2_to_uniform_circle(sorted_t: Tensor) -> Tensor:
    """[L]: W_2^2 between the points of each column of ``sorted_t`` [n, L] (sorted
    coordinates, equal masses) and the uniform distribution on the circle (closed form)."""
    n = len(sorted_t)
    grid = (torch.arange(n, device=sorted_t.device, dtype=sorted_t.dtype) + 0.5) / n
    deviation = sorted_t - grid[:, None]
    return (deviation - deviation.mean(0)).pow(2).mean(0) + 1.0 / (12 * n**2)


def circle_wasserstein(sorted_s: Tensor, sorted_r: Tensor, p: float = 2.0) -> Tensor:
    """[L]: W_p^p on the circle between the columns of two [n, L] sets of sorted coordinates
    with equal masses: the best cyclic matching (module docstring)."""
    n, circles = sorted_s.shape
    lifted = torch.cat([sorted_r - 1.0, sorted_r, sorted_r + 1.0])  # 3n x L
    positions = torch.arange(n, device=sorted_s.device)
    shifts = torch.arange(-(n - 1), n, device=sorted_s.device)  # 2n - 1 candidates
    block = max(1, BLOCK_ELEMENTS // (n * circles))
    with torch.no_grad():
        s, r = sorted_s.detach(), lifted.detach()
        costs = []
        for chunk in shifts.split(block):
            matched = r[n + chunk[:, None] + positions[None, :]]  # shifts x n x L
            costs.append((s - matched).abs().pow(p).mean(1))  # shifts x L
        best = shifts[torch.cat(costs).argmin(0)]  # L
    matched = lifted.gather(0, n + best[None, :] + positions[:, None])  # n x L
    return (sorted_s - matched).abs().pow(p).mean(0)


@register
class SphericalSlicedWasserstein(Regularizer):
    """SSW_p^p between the batch codes and the prior along L fresh great circles per step.

    Closed form against the uniform prior on the sphere when p = 2, otherwise against as
    many prior samples as codes in the batch (prior on the sphere).

    Args:
        L: number of random great circles per step.
        p: exponent of the circular Wasserstein distance (>= 1).
    """

    name = "ssw"
    capturable = True
    search_space = {"L": Range(10, 4000, "log", integer=True, high_limit=SLICES_LIMIT)}
    paper = "Bonet et al., ICLR 2023 (Spherical Sliced-Wasserstein)"
    prior_assumption = ("on the unit sphere (refuses another prior); closed form against the "
                        "uniform prior when p = 2, else B prior samples per step")  # fmt: skip

    def __init__(self, L: int = 50, p: float = 2.0):
        super().__init__()
        self.L = _checks.positive_int("ssw.L", L)
        self.p = _checks.wasserstein_order("ssw.p", p)

    def bind(self, encoder, prior, plan):
        """Refuse a prior off the sphere or a dimension below 2; take the closed form for the
        uniform sphere prior when p = 2."""
        super().bind(encoder, prior, plan)
        if not prior.on_sphere:
            raise ValueError("ssw needs codes on the unit sphere; use the sphere prior")
        if prior.dim < 2:
            raise ValueError(f"ssw needs a latent dimension of at least 2, got {prior.dim}")
        self.closed_form = isinstance(prior, SpherePrior) and self.p == 2

    def forward(self, z: Tensor, x: Tensor) -> Tensor:
        """SSW_p^p along L fresh great circles: W_2^2 to the uniform circle in closed form, else
        circular W_p^p against len(z) fresh prior samples."""
        frames = random_great_circles(z.shape[1], self.L, device=z.device)
        codes = fast_sort(circle_coordinates(z, frames))
        if self.closed_form:
            return w2_to_uniform_circle(codes).mean()
        y = self.prior.sample(len(z), device=z.device)
        return circle_wasserstein(codes, fast_sort(circle_coordinates(y, frames)), self.p).mean()
