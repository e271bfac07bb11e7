import pytest
import torch
from geomloss import SamplesLoss

import regularizers
from regularizers.energy import energy_distance

from tests.conftest import bind


@pytest.mark.parametrize(("n", "m"), [(50, 40), (2, 2), (64, 64)])
def test_energy_is_twice_geomloss_energy(n, m):
    """geomloss clamps squared distances at 1e-8 before the square root, so each of the n
    (and m) zero distances on the diagonals counts as 1e-4 there: its value is half ours
    minus 1e-4 / (2n) + 1e-4 / (2m). The points are well apart (no other distance below
    1e-4), float64: what remains is rounding of sums of at most 64^2 terms (rel 1e-12)."""
    x = torch.randn(n, 4, dtype=torch.float64)
    y = torch.randn(m, 4, dtype=torch.float64) + 0.5
    theirs = SamplesLoss("energy")(x, y).item()
    diagonal = 1e-4 / (2 * n) + 1e-4 / (2 * m)
    assert energy_distance(x, y).item() == pytest.approx(2 * (theirs + diagonal), rel=1e-12)


def test_energy_closed_form_on_the_line():
    """x = {0}, y = {1}: 2 |0 - 1| - 0 - 0 = 2; two sets equal: 0."""
    x, y = torch.zeros(1, 1), torch.ones(1, 1)
    assert energy_distance(x, y).item() == 2.0
    z = torch.randn(20, 3)
    assert energy_distance(z, z).item() == pytest.approx(0.0, abs=1e-6)


def test_coincident_codes_have_a_finite_gradient():
    z = torch.zeros(8, 3, requires_grad=True)
    energy_distance(z, torch.randn(8, 3)).backward()
    assert torch.isfinite(z.grad).all()


def test_regularizer_compares_with_as_many_prior_samples():
    regularizer = bind(regularizers.build("energy"), dim=6)
    z = torch.nn.functional.normalize(torch.randn(30, 6), dim=1)
    torch.manual_seed(5)
    value = regularizer(z, z)
    torch.manual_seed(5)
    y = regularizers.SpherePrior(6).sample(30)
    assert value.item() == energy_distance(z, y).item()
