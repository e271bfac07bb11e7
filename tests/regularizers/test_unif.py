import math

import pytest
import torch

import regularizers
from regularizers import GaussianPrior
from regularizers.unif import uniformity

from tests.conftest import bind


def double_loop(z, t):
    """log of the mean of exp(-t |z_i - z_j|^2) over ordered pairs i != j, one pair at a time."""
    terms = [math.exp(-t * float(((z[i] - z[j]) ** 2).sum()))
             for i in range(len(z)) for j in range(len(z)) if i != j]  # fmt: skip
    return math.log(sum(terms) / len(terms))


@pytest.mark.parametrize(("n", "t"), [(2, 2.0), (7, 2.0), (40, 0.5), (40, 9.0)])
def test_uniformity_matches_a_double_loop_over_pairs(n, t):
    z = torch.nn.functional.normalize(torch.randn(n, 5, dtype=torch.float64), dim=1)
    # float64: the expansion |a|^2 + |b|^2 - 2 a.b loses ~1e-16 per entry; rel 1e-12 is loose
    assert uniformity(z, t).item() == pytest.approx(double_loop(z, t), rel=1e-12)


def test_uniformity_of_a_collapsed_batch_is_zero_and_large_t_does_not_overflow():
    z = torch.ones(10, 4) / 2
    assert uniformity(z, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    far = torch.eye(4)  # all pairs at squared distance 2: log exp(-2 t) = -2 t exactly
    assert uniformity(far, 500.0).item() == pytest.approx(-1000.0, rel=1e-6)


def test_gradient_spreads_a_clustered_batch():
    regularizer = bind(regularizers.build("unif"), dim=4, batch_size=32)
    g = torch.randn(32, 4)
    g[:, 0] += 3
    z = torch.nn.functional.normalize(g, dim=1).requires_grad_()
    before = regularizer(z, z)
    before.backward()
    assert torch.isfinite(z.grad).all()
    after = torch.nn.functional.normalize(z.detach() - 0.1 * z.grad, dim=1)
    assert regularizer(after, after).item() < before.item()


def test_bind_refuses_batch_size_one_and_a_prior_off_the_sphere():
    with pytest.raises(ValueError, match="unif needs a batch size of at least 2, got 1"):
        bind(regularizers.build("unif"), batch_size=1)
    with pytest.raises(ValueError, match="unif needs codes on the unit sphere"):
        bind(regularizers.build("unif"), prior=GaussianPrior(8))


@pytest.mark.parametrize("t", [0, -1.0, float("nan")])
def test_bad_t(t):
    with pytest.raises(ValueError, match="unif.t must be a finite number > 0"):
        regularizers.build("unif", t=t)
