"""WAE-MMD (Tolstikhin et al. 2017).

Unbiased U-statistic estimate of MMD^2 between codes x (n) and prior samples y (m):
    MMD^2 = sum_{i!=j} k(x_i,x_j) / (n(n-1)) + sum_{i!=j} k(y_i,y_j) / (m(m-1))
            - 2 sum_{i,j} k(x_i,y_j) / (nm).
Kernels, summed over the scales C in {0.1, 0.2, 0.5, 1, 2, 5, 10} * C0:
    imq: k(x,y) = C / (C + ||x-y||^2)    (default, as WAE)
    rbf: k(x,y) = exp(-||x-y||^2 / C)
C0 defaults to E||z - z'||^2 under the prior: 2 on the unit sphere (the WAE authors' choice
for a spherical prior) and 2 d sigma^2 for N(0, sigma^2 I_d) (WAE's C0).
"""

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from . import _checks
from .base import Regularizer, register
from .search import Choice, Range

SCALE_MULTIPLIERS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def squared_distances(x: Tensor, y: Tensor) -> Tensor:
    """[n, m] matrix of ||x_i - y_j||^2 (clamped at 0 against round-off)."""
    sq = (x * x).sum(1, keepdim=True) + (y * y).sum(1) - 2.0 * (x @ y.T)
    return sq.clamp_min(0.0)


def imq_kernel(sq_dist: Tensor, scales: Tensor) -> Tensor:
    """sum_C C / (C + d^2) for each entry of ``sq_dist``."""
    return (scales / (scales + sq_dist.unsqueeze(-1))).sum(-1)


def rbf_kernel(sq_dist: Tensor, scales: Tensor) -> Tensor:
    """sum_C exp(-d^2 / C) for each entry of ``sq_dist``."""
    return torch.exp(-sq_dist.unsqueeze(-1) / scales).sum(-1)


KERNELS = {"imq": imq_kernel, "rbf": rbf_kernel}
BLOCK_ELEMENTS = 2**24  # kernel entries (pairs x scales) evaluated at once: 64 MB in float32


def _block_sum(x_rows: Tensor, y: Tensor, first_row: int, *, kernel: str, scales: Tensor,
               skip_diagonal: bool) -> Tensor:  # fmt: skip
    k = KERNELS[kernel](squared_distances(x_rows, y), scales)
    total = k.sum()
    return total - k.diagonal(offset=first_row).sum() if skip_diagonal else total


def kernel_sum(x: Tensor, y: Tensor, kernel: str, scales: Tensor, *, skip_diagonal: bool = False,
               block_elements: int = BLOCK_ELEMENTS) -> Tensor:  # fmt: skip
    """sum_{i,j} k(x_i, y_j), over i != j when ``skip_diagonal`` (then y is x).

    Small batches are one tensorized block. Large ones go in row blocks whose kernel matrix
    is recomputed in the backward pass (activation checkpointing), so memory stays at one
    block instead of n x m x scales: MMD at B = 8192 fits in a few hundred MB.
    """
    rows = max(1, block_elements // (len(y) * len(scales)))
    if rows >= len(x):
        return _block_sum(x, y, 0, kernel=kernel, scales=scales, skip_diagonal=skip_diagonal)
    total = x.new_zeros(())
    for start in range(0, len(x), rows):
        args = (x[start : start + rows], y, start)
        options = dict(kernel=kernel, scales=scales, skip_diagonal=skip_diagonal)
        if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad):
            total = total + checkpoint(  # no randomness in a block: no RNG state to keep
                _block_sum, *args, **options, use_reentrant=False, preserve_rng_state=False
            )
        else:
            total = total + _block_sum(*args, **options)
    return total


def mmd_unbiased(x: Tensor, y: Tensor, kernel: str = "imq", scales=None) -> Tensor:
    """Unbiased MMD^2 between samples x [n, d] and y [m, d] (n, m >= 2)."""
    scales = torch.as_tensor(
        scales if scales is not None else [2.0 * s for s in SCALE_MULTIPLIERS],
        dtype=x.dtype,
        device=x.device,
    )
    n, m = len(x), len(y)
    within_x = kernel_sum(x, x, kernel, scales, skip_diagonal=True) / (n * (n - 1))
    within_y = kernel_sum(y, y, kernel, scales, skip_diagonal=True) / (m * (m - 1))
    between = kernel_sum(x, y, kernel, scales) / (n * m)
    return within_x + within_y - 2.0 * between


@register
class MMD(Regularizer):
    """Unbiased MMD^2 against as many prior samples as codes in the batch.

    Args:
        kernel: "imq" (inverse multiquadratic, default) or "rbf".
        base_scale: C0 of the kernel scales; None takes E||z - z'||^2 under the prior.
    """

    name = "mmd"
    capturable = True
    search_space = {"kernel": Choice(("imq", "rbf")),
                    "base_scale": Range(1e-4, 100.0, "log", per="mean_sq_distance", low_limit=(
                        "far below the codes' squared distances the imq kernel C / (C + d^2) is "
                        "C / d^2 for every pair, so the penalty is C times a scale-free one and "
                        "Adam's normalized steps do not depend on C (lam absorbs it where a "
                        "reconstruction term is present)"), high_limit=(
                        "as C grows past the codes' squared distances both kernels approach "
                        "1 - d^2 / C, and the penalty a multiple 1 / C of the squared distance "
                        "between the codes' mean and the prior's: a larger C then only rescales "
                        "it, which lam absorbs"))}
    min_batch_size = 2  # the unbiased estimate averages over pairs of distinct codes
    paper = "Tolstikhin et al., ICLR 2018 (Wasserstein Auto-Encoders), WAE-MMD"
    prior_assumption = "any prior it can sample (B prior samples per step)"

    def __init__(self, kernel: str = "imq", base_scale: float | None = None):
        super().__init__()
        self.kernel = _checks.one_of("mmd.kernel", kernel, tuple(KERNELS))
        self.base_scale = (
            None if base_scale is None else _checks.positive_float("mmd.base_scale", base_scale)
        )

    def bind(self, encoder, prior, plan):
        """Register the kernel scales C0 * (0.1, ..., 10) as a buffer, C0 = ``base_scale`` or the
        prior's E||z - z'||^2."""
        super().bind(encoder, prior, plan)
        c0 = self.base_scale or prior.mean_sq_distance
        self.register_buffer("scales", torch.tensor([c0 * s for s in SCALE_MULTIPLIERS]))

    def forward(self, z: Tensor, x: Tensor) -> Tensor:
        """Unbiased MMD^2 between z and len(z) fresh prior samples."""
        y = self.prior.sample(len(z), device=z.device)
        return mmd_unbiased(z, y, self.kernel, self.scales.to(z.dtype))
