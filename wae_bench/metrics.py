"""Evaluation metrics.

Latent SWD (synthetic task): the sliced 2-Wasserstein distance
    SW_2(A, B) = ( mean_l mean_i ((A theta_l)_(i) - (B theta_l)_(i))^2 )^(1/2)
between the codes A of every data point and a fixed set B of as many prior samples, along
a fixed set of unit directions theta_l, so that every method and epoch is measured alike.
"""

import torch
from torch import Tensor

from regularizers.swd import fast_sort, sorted_projection_distance


@torch.no_grad()
def latent_swd(codes: Tensor, prior_samples: Tensor, directions: Tensor) -> float:
    """SW_2 between ``codes`` and ``prior_samples`` along the columns of ``directions``."""
    return swd_to_sorted(codes, sorted_projections(prior_samples, directions), directions)


@torch.no_grad()
def sorted_projections(samples: Tensor, directions: Tensor) -> Tensor:
    """[n, L]: ``samples`` [n, d] projected on each column of ``directions`` [d, L], sorted
    per column. A fixed set's, computed once, serves every ``swd_to_sorted`` against it."""
    return fast_sort(samples @ directions)


@torch.no_grad()
def swd_to_sorted(codes: Tensor, reference: Tensor, directions: Tensor) -> float:
    """``latent_swd`` between ``codes`` and the set whose ``sorted_projections`` on the same
    directions are ``reference`` (the same number of samples)."""
    projected = sorted_projections(codes, directions)
    return float(sorted_projection_distance(projected, reference).sqrt())


@torch.no_grad()
def singular_values(codes: Tensor) -> Tensor:
    """Singular values of the centered code matrix [n, d], largest first (isotropy, Fig. 4)."""
    return torch.linalg.svdvals((codes - codes.mean(0)).double().cpu())


def slerp(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    """Spherical interpolation between unit vectors: [steps, d] from z0 to z1 along the sphere.

    slerp(t) = sin((1 - t) w) / sin(w) z0 + sin(t w) / sin(w) z1,  cos(w) = z0.z1.
    """
    t = torch.linspace(0, 1, steps, device=z0.device, dtype=z0.dtype)[:, None]
    omega = torch.arccos((z0 @ z1).clamp(-1 + 1e-7, 1 - 1e-7))
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)
