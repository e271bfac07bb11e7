import math

import pytest
import torch

import regularizers
from regularizers.mmd import SCALE_MULTIPLIERS, mmd_unbiased

from tests.conftest import bind


def brute_force_mmd(x, y, kernel):
    """Unbiased MMD^2 by explicit double loops."""
    n, m = len(x), len(y)
    xx = sum(kernel(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(kernel(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(kernel(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


SCALES = [2.0 * s for s in SCALE_MULTIPLIERS]


def imq(a, b):
    d2 = float(((a - b) ** 2).sum())
    return sum(c / (c + d2) for c in SCALES)


def rbf(a, b):
    d2 = float(((a - b) ** 2).sum())
    return sum(math.exp(-d2 / c) for c in SCALES)


@pytest.mark.parametrize(("name", "kernel"), [("imq", imq), ("rbf", rbf)])
def test_mmd_matches_brute_force_double_loop(name, kernel):
    x = torch.randn(9, 5, dtype=torch.float64)
    y = torch.randn(7, 5, dtype=torch.float64) + 0.3
    value = mmd_unbiased(x, y, name, SCALES).item()
    # float64: means of <= 72 kernel values (5-term distances, 4 scales), and the kernel means
    # add up to 15x the MMD here: error <= ~80 eps64 * 15 = 1.3e-13; 1e-10 leaves 1000x.
    assert value == pytest.approx(brute_force_mmd(x, y, kernel), rel=1e-10)


def test_mmd_of_identical_distributions_is_near_zero_and_shift_is_positive():
    prior = regularizers.SpherePrior(16)
    a, b = prior.sample(512), prior.sample(512)
    same = mmd_unbiased(a, b).item()
    shifted = mmd_unbiased(a, torch.nn.functional.normalize(b + 0.5, dim=1)).item()
    assert abs(same) < 0.01  # the U-statistic's spread at n = 512 is a few 1e-3
    assert shifted > 1.0


def test_mmd_of_a_set_with_itself_is_near_zero():
    x = regularizers.SpherePrior(16).sample(512)
    assert abs(mmd_unbiased(x, x).item()) < 0.05 * mmd_unbiased(x, x + 0.3).item()


def test_mmd_base_scale_defaults_to_prior_mean_sq_distance():
    regularizer = bind(regularizers.build("mmd"), prior=regularizers.GaussianPrior(8, sigma=1.0))
    expected = torch.tensor([16.0 * s for s in SCALE_MULTIPLIERS])
    torch.testing.assert_close(regularizer.scales, expected)


def test_mmd_penalty_has_gradient_toward_prior():
    regularizer = bind(regularizers.build("mmd"), dim=8, batch_size=64)
    z = torch.nn.functional.normalize(torch.randn(64, 8) * 0.1 + 1.0, dim=1).requires_grad_()
    regularizer(z, None).backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_mmd_rejects_bad_kernel():
    with pytest.raises(ValueError, match="mmd.kernel must be one of 'imq', 'rbf'"):
        regularizers.build("mmd", kernel="laplace")


def test_blocked_kernel_sums_equal_one_block_in_value_and_gradient():
    from regularizers.mmd import kernel_sum

    x = torch.randn(50, 4, dtype=torch.float64, requires_grad=True)
    y = torch.randn(40, 4, dtype=torch.float64)
    scales = torch.tensor(SCALES, dtype=torch.float64)
    values, grads = [], []
    for block in (10**9, 7 * 40 * 3):  # one block; blocks of 3 rows (checkpointed)
        for skip, other in ((True, x), (False, y)):
            x.grad = None
            total = kernel_sum(x, other, "imq", scales, skip_diagonal=skip, block_elements=block)
            total.backward()
            values.append(total.item())
            grads.append(x.grad.clone())
    # float64 sums of <= 2,500 positive kernel values in other blocks: <= 2500 eps64 = 2.8e-13
    assert values[:2] == pytest.approx(values[2:], rel=1e-12)
    for one, blocked in zip(grads[:2], grads[2:], strict=True):  # float64 defaults: 1e-7 each,
        torch.testing.assert_close(one, blocked)  # against 50 terms of O(1): 50 eps64 = 6e-15


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_far_above_the_squared_distances_the_penalty_is_a_rescaled_mean_gap(kernel):
    """The base-scale range's high_limit: as C grows both kernels approach 1 - d^2 / C, so the
    unbiased estimate approaches sum_s 1 / (C s) times the U-statistic of -d^2 (which is the
    squared gap between the means, up to the estimate's own diagonal terms). The next order
    is d^2 / (C s) relative, at most 8.2 / (0.1 C) here (|x - y| <= 2 + 0.3 sqrt(8))."""
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(60, 8, generator=g, dtype=torch.float64), dim=1)
    y = torch.nn.functional.normalize(torch.randn(80, 8, generator=g, dtype=torch.float64), dim=1)
    x = x + 0.3
    d2 = lambda a, b: ((a[:, None] - b[None]) ** 2).sum(-1)  # noqa: E731
    off = lambda m: (m.sum() - m.diagonal().sum()) / (len(m) * (len(m) - 1))  # noqa: E731
    u_stat = -off(d2(x, x)) - off(d2(y, y)) + 2 * d2(x, y).mean()
    multipliers = torch.tensor([0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0], dtype=torch.float64)
    for c in (1e3, 1e5):
        value = float(mmd_unbiased(x, y, kernel, c * multipliers))
        limit = float((1 / (c * multipliers)).sum() * u_stat)
        assert abs(value - limit) <= 8.2 / (0.1 * c) * abs(limit)
