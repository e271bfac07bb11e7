import ot
import pytest
import torch

import regularizers
from regularizers.swd import fast_sort, random_directions, sliced_wasserstein

from tests.conftest import bind


@pytest.mark.parametrize("p", [1, 2])
def test_swd_matches_pot_with_the_same_projections(p):
    a, b = torch.randn(200, 6, dtype=torch.float64), torch.randn(200, 6, dtype=torch.float64) + 1
    theta = random_directions(6, 40).double()
    ours = sliced_wasserstein(a, b, theta, p).item() ** (1 / p)
    theirs = ot.sliced_wasserstein_distance(a, b, p=p, projections=theta)
    # float64: 6-term projections, then a mean of 200 x 40 nonnegative terms: any summation
    # order stays within 8000 eps64 = 9e-13 of the exact value; 1e-10 leaves 100x.
    assert ours == pytest.approx(float(theirs), rel=1e-10)


def test_swd_of_a_set_with_itself_is_zero_and_symmetric():
    a, b, theta = torch.randn(50, 4), torch.randn(50, 4), random_directions(4, 30)
    assert sliced_wasserstein(a, a, theta).item() == 0.0
    assert sliced_wasserstein(a, b, theta).item() == pytest.approx(
        sliced_wasserstein(b, a, theta).item()
    )


def test_swd_of_a_translation_along_one_direction_is_the_shift():
    a = torch.randn(100, 3)
    theta = torch.tensor([[1.0], [0.0], [0.0]])
    assert sliced_wasserstein(a, a + torch.tensor([2.0, 0, 0]), theta, p=2).item() == pytest.approx(
        4.0
    )


def test_directions_are_unit_vectors():
    torch.testing.assert_close(random_directions(7, 100).norm(dim=0), torch.ones(100))


@pytest.mark.parametrize("shape", [(64, 50), (1000, 3)])
def test_fast_sort_matches_torch_sort_in_value_and_gradient(shape):
    x = torch.randn(*shape, requires_grad=True)
    weights = torch.randn(*shape)
    (fast_sort(x) * weights).sum().backward()
    ours = x.grad.clone()
    x.grad = None
    (torch.sort(x, dim=0).values * weights).sum().backward()
    torch.testing.assert_close(ours, x.grad)
    with torch.no_grad():
        torch.testing.assert_close(fast_sort(x), torch.sort(x, dim=0).values)


def test_swd_penalty_gradient_reaches_codes():
    regularizer = bind(regularizers.build("swd", L=20), dim=8, batch_size=32)
    z = torch.randn(32, 8, requires_grad=True)
    regularizer(z, None).backward()
    assert z.grad.abs().sum() > 0


@pytest.mark.parametrize(("kw", "message"), [({"L": 0}, "swd.L"), ({"p": 0.5}, "swd.p")])
def test_swd_rejects_bad_hyperparameters(kw, message):
    with pytest.raises(ValueError, match=message):
        regularizers.build("swd", **kw)
