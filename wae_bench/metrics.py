"""Evaluation metrics.

Latent SWD (synthetic task, SPEC section 3): the sliced 2-Wasserstein distance
    SW_2(A, B) = ( mean_l mean_i ((A theta_l)_(i) - (B theta_l)_(i))^2 )^(1/2)
between the codes A of every data point and a fixed set B of as many prior samples, along
a fixed set of unit directions theta_l, so that every method and epoch is measured alike.
"""

import torch
from torch import Tensor

from regularizers.swd import sliced_wasserstein


@torch.no_grad()
def latent_swd(codes: Tensor, prior_samples: Tensor, directions: Tensor) -> float:
    """SW_2 between ``codes`` and ``prior_samples`` along the columns of ``directions``."""
    return float(sliced_wasserstein(codes, prior_samples, directions, p=2.0).sqrt())
