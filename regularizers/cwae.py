"""Cramer-Wold AE (Knop et al. 2018, arXiv 1805.09235; JMLR 21(2020) 1-28).

The Cramer-Wold distance compares two distributions through all their 1-D projections:
each projection v^T X (v on the unit sphere S^{D-1}) is smoothed with a Gaussian kernel of
variance gamma, and the squared L2 distance of the smoothed densities is averaged over v.
For samples it reduces to the kernel k(a, b) = phi_D(||a - b||^2 / (4 gamma)), where
    phi_D(s) = 1F1(1/2; D/2; -s)   (Kummer's function; the mean of exp(-s v_1^2) over v),
here always replaced by the paper's asymptotic form (exact enough for D >= 20: relative
error 1.0% at D = 20, 0.15% at D = 128, 3% at D = 8; the 1F1 form is not needed)
    phi_D(s) ~ (1 + 4 s / (2D - 3))^(-1/2).
Sample form, codes x (n) against prior samples y (m), all pairs (i, j), i = j included:
    d^2(x, y) = 1 / (2 sqrt(pi gamma)) [ mean_ij k(x_i, x_j) + mean_ij k(y_i, y_j)
                                         - 2 mean_ij k(x_i, y_j) ].
Closed form against the standard Gaussian N(0, I) (JMLR Theorem 3; N(0, 1) smoothed is
N(0, 1 + gamma), whence the middle term):
    d^2(x, N(0, I)) = 1 / (2 n^2 sqrt(pi gamma)) sum_ij phi_D(||x_i - x_j||^2 / (4 gamma))
                      + 1 / (2 sqrt(pi (1 + gamma)))
                      - sqrt(2) / (n sqrt(pi (1 + 2 gamma))) sum_i phi_D(||x_i||^2 / (2 + 4 gamma)).
The penalty is log d^2, as CWAE's cost log d^2 + reconstruction error (paper and authors'
code). The smoothing is the paper's Silverman rule gamma = sigma^2 (4 / (3 n))^(2/5), n the
batch size, sigma^2 the variance of a 1-D projection of the prior: 1 for N(0, I) (the paper's
case) and 1/D on the unit sphere, where d^2(x, y; gamma) = d^2(c x, c y; c^2 gamma) * c for
any c > 0, so this is the paper's gamma for the codes scaled by sqrt(D) to unit variance.
"""

import math

import torch
from torch import Tensor

from . import _checks
from .base import Regularizer, register
from .mmd import squared_distances
from .priors import GaussianPrior
from .search import Range


def phi(s: Tensor, dim: int) -> Tensor:
    """The paper's asymptotic phi_D(s) ~ (1 + 4 s / (2D - 3))^(-1/2), for D >= 2."""
    return torch.rsqrt(1.0 + 4.0 * s / (2 * dim - 3))


def silverman_gamma(n: int, variance: float = 1.0) -> float:
    """Silverman's rule for the smoothing variance: variance * (4 / (3 n))^(2/5)."""
    return variance * (4.0 / (3.0 * n)) ** 0.4


def _mean_kernel(a: Tensor, b: Tensor, gamma: float) -> Tensor:
    """mean_ij phi_D(||a_i - b_j||^2 / (4 gamma))."""
    return phi(squared_distances(a, b) / (4.0 * gamma), a.shape[1]).mean()


def cw_distance(x: Tensor, y: Tensor, gamma: float) -> Tensor:
    """Squared Cramer-Wold distance between samples x [n, D] and y [m, D]."""
    within = _mean_kernel(x, x, gamma) + _mean_kernel(y, y, gamma)
    return (within - 2.0 * _mean_kernel(x, y, gamma)) / (2.0 * math.sqrt(math.pi * gamma))


def cw_normality(x: Tensor, gamma: float) -> Tensor:
    """Squared Cramer-Wold distance between the sample x [n, D] and N(0, I_D), closed form."""
    dim = x.shape[1]
    within = _mean_kernel(x, x, gamma) / (2.0 * math.sqrt(math.pi * gamma))
    prior = 1.0 / (2.0 * math.sqrt(math.pi * (1.0 + gamma)))
    cross = phi((x * x).sum(1) / (2.0 + 4.0 * gamma), dim).mean()
    return within + prior - math.sqrt(2.0 / (math.pi * (1.0 + 2.0 * gamma))) * cross


@register
class CramerWold(Regularizer):
    """log d^2 of the Cramer-Wold distance between the batch codes and the prior.

    Closed form against the standard Gaussian prior, otherwise the sample form against as
    many prior samples as codes in the batch.

    Args:
        gamma: smoothing variance of the 1-D projections (> 0); None takes Silverman's rule
            sigma^2 (4 / (3 n))^(2/5) for each batch of n codes, sigma^2 the prior's
            per-coordinate variance (1 for N(0, I), 1/D on the unit sphere).
    """

    name = "cwae"
    capturable = True
    search_space = {"gamma": Range(1e-5, 10.0, "log", per="variance", low_limit=(
        "as gamma -> 0 the smoothing vanishes: the distance is a constant ~ 1 / sqrt(gamma) plus a "
        "gamma-free sum of 1 / ||z - z'||, so the steps on its log no longer depend on gamma"))}
    paper = "Knop et al., JMLR 2020 (Cramer-Wold AutoEncoder)"
    prior_assumption = "closed form against N(0, I); any other prior by B prior samples per step"

    def __init__(self, gamma: float | None = None):
        super().__init__()
        self.gamma = None if gamma is None else _checks.positive_float("cwae.gamma", gamma)

    def bind(self, encoder, prior, plan):
        """Refuse a latent dimension below 2; take the closed form when the prior is N(0, I), and
        the prior's per-coordinate variance sigma^2 = E||z - z'||^2 / (2D) for Silverman's rule."""
        super().bind(encoder, prior, plan)
        if prior.dim < 2:
            raise ValueError(f"cwae needs a latent dimension of at least 2, got {prior.dim}")
        self.closed_form = isinstance(prior, GaussianPrior) and prior.sigma == 1.0
        # per-coordinate variance of a zero-mean prior: E||z - z'||^2 / (2D)
        self.prior_variance = prior.mean_sq_distance / (2.0 * prior.dim)

    def forward(self, z: Tensor, x: Tensor) -> Tensor:
        """log d^2(z, P_Z) at ``gamma`` (or Silverman's for this batch): the closed form against
        N(0, I), else the sample form against len(z) fresh prior samples."""
        gamma = self.gamma or silverman_gamma(len(z), self.prior_variance)
        if self.closed_form:
            return torch.log(cw_normality(z, gamma))
        y = self.prior.sample(len(z), device=z.device)
        return torch.log(cw_distance(z, y, gamma))
