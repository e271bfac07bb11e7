"""Latent priors P_Z.

The suite's default prior is the uniform distribution on the unit sphere S^{d-1}
(MoCA's): sample g ~ N(0, I_d) and return g / ||g||. A Gaussian N(0, sigma^2 I_d)
is offered for the methods that do not need unit-norm codes.
"""

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor


class Prior(ABC):
    """A distribution on R^dim that can be sampled on any device."""

    name: str

    def __init__(self, dim: int):
        if not isinstance(dim, int) or dim <= 0:
            raise ValueError(f"prior dimension must be an integer > 0, got {dim!r}")
        self.dim = dim

    @abstractmethod
    def sample(self, n: int, device=None, generator: torch.Generator | None = None) -> Tensor:
        """n samples as an [n, dim] float32 tensor."""

    @property
    @abstractmethod
    def mean_sq_distance(self) -> float:
        """E ||z - z'||^2 for two independent samples: the natural kernel length scale."""

    @property
    @abstractmethod
    def diameter(self) -> float:
        """A bound on the distance between two samples (for an unbounded prior, one that
        holds but with negligible probability): what Sinkhorn's eps-scaling starts from."""

    @property
    def on_sphere(self) -> bool:
        """Whether every sample has unit norm (what MoCA, SSW and unif require)."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


class SpherePrior(Prior):
    """Uniform on S^{dim-1}; E||z - z'||^2 = 2 since E[z.z'] = 0."""

    name = "sphere"

    def sample(self, n, device=None, generator=None):
        """g / ||g|| for g ~ N(0, I_dim): uniform on the sphere."""
        g = torch.randn(n, self.dim, device=device, generator=generator)
        return torch.nn.functional.normalize(g, dim=1)

    @property
    def mean_sq_distance(self) -> float:
        """2: E||z - z'||^2 = 2 - 2 E[z.z'] with E[z.z'] = 0."""
        return 2.0

    @property
    def diameter(self) -> float:
        """2, the sphere's diameter."""
        return 2.0

    @property
    def on_sphere(self) -> bool:
        """True: every sample has unit norm."""
        return True


class GaussianPrior(Prior):
    """N(0, sigma^2 I_dim); E||z - z'||^2 = 2 dim sigma^2."""

    name = "gaussian"

    def __init__(self, dim: int, sigma: float = 1.0):
        super().__init__(dim)
        self.sigma = float(sigma)

    def sample(self, n, device=None, generator=None):
        """sigma g for g ~ N(0, I_dim)."""
        return self.sigma * torch.randn(n, self.dim, device=device, generator=generator)

    @property
    def mean_sq_distance(self) -> float:
        """2 dim sigma^2 (z - z' ~ N(0, 2 sigma^2 I_dim))."""
        return 2.0 * self.dim * self.sigma**2

    @property
    def diameter(self) -> float:
        """2 sigma (sqrt(dim) + 6): P(||z|| > sigma (sqrt(dim) + t)) <= exp(-t^2 / 2), the
        Gaussian concentration of the norm, is below 2e-8 per sample at t = 6."""
        return 2.0 * self.sigma * (math.sqrt(self.dim) + 6.0)


PRIORS = {"sphere": SpherePrior, "gaussian": GaussianPrior}


def build_prior(name: str, dim: int) -> Prior:
    """The prior called ``name`` ("sphere" or "gaussian") on R^dim."""
    if name not in PRIORS:
        raise ValueError(f"unknown prior {name!r}; known: {', '.join(sorted(PRIORS))}")
    return PRIORS[name](dim)
