import math

import ot
import pytest
import torch

import regularizers
from regularizers import GaussianPrior
from regularizers.ssw import (
    circle_coordinates,
    circle_wasserstein,
    random_great_circles,
    w2_to_uniform_circle,
)
from regularizers.swd import fast_sort

from tests.conftest import bind

# float64 throughout: the sums run over at most 200 samples and 30 circles, so rounding stays
# near 1e-16 x 200; POT's closed form adds terms of size 1/3 whose difference is ~1e-3, which
# costs it about 1e-13 relative (its own cancellation), hence rel = 1e-10 for both.
REL = 1e-10


def sphere(n, d, shift=0.0):
    x = torch.randn(n, d, dtype=torch.float64)
    x[:, 0] += shift
    return torch.nn.functional.normalize(x, dim=1)


@pytest.mark.parametrize(("n", "d", "circles", "p"), [(50, 5, 20, 2.0), (64, 8, 30, 1.0),
                                                      (33, 3, 10, 3.0), (200, 16, 12, 2.0),
                                                      (40, 2, 5, 1.5)])  # fmt: skip
def test_ssw_matches_pot_against_samples_with_the_same_circles(n, d, circles, p):
    x, y = sphere(n, d), sphere(n, d, shift=0.7)
    frames = random_great_circles(d, circles).double()
    codes, prior = (fast_sort(circle_coordinates(a, frames)) for a in (x, y))
    ours = circle_wasserstein(codes, prior, p).mean().item()
    # POT reshapes with n_projections even when it is given the projections
    theirs = ot.sliced_wasserstein_sphere(x, y, projections=frames, n_projections=circles, p=p)
    assert ours == pytest.approx(float(theirs) ** p, rel=REL)


@pytest.mark.parametrize(("n", "d", "circles"), [(1, 4, 3), (50, 5, 20), (200, 16, 30)])
def test_ssw_closed_form_matches_pot_against_the_uniform_distribution(n, d, circles):
    x = sphere(n, d, shift=0.5)
    frames = random_great_circles(d, circles).double()
    ours = w2_to_uniform_circle(fast_sort(circle_coordinates(x, frames))).mean().item()
    theirs = ot.sliced_wasserstein_sphere_unif(x, projections=frames, n_projections=circles)
    assert ours == pytest.approx(float(theirs) ** 2, rel=REL)


def test_closed_form_of_the_evenly_spaced_circle_is_the_grid_term():
    """n evenly spaced points on the circle: W_2^2 to uniform is 1 / (12 n^2), whatever the
    rotation (each point carries the arc of width 1/n centred on it)."""
    n = 10
    t = ((torch.arange(n, dtype=torch.float64) + 0.5) / n + 0.37) % 1.0
    assert w2_to_uniform_circle(torch.sort(t).values[:, None]).item() == pytest.approx(
        1 / (12 * n**2), rel=1e-12
    )


def test_circle_wasserstein_of_a_rotation_is_the_angle():
    """Every point turned by a (less than half the gap between points): W_p^p = a^p."""
    t = torch.tensor([0.05, 0.3, 0.62, 0.9], dtype=torch.float64)
    rotated = (t + 0.04) % 1.0
    for p in (1.0, 2.0):
        value = circle_wasserstein(t[:, None], torch.sort(rotated).values[:, None], p).item()
        assert value == pytest.approx(0.04**p, rel=1e-12)
    wrapped = (t - 0.08) % 1.0  # 0.05 wraps to 0.97: the matching must wrap with it
    assert circle_wasserstein(t[:, None], torch.sort(wrapped).values[:, None]).item() == (
        pytest.approx(0.08**2, rel=1e-12)
    )


def test_great_circles_are_orthonormal_frames():
    frames = random_great_circles(7, 100)
    gram = frames.transpose(1, 2) @ frames
    torch.testing.assert_close(gram, torch.eye(2).expand(100, 2, 2), atol=1e-6, rtol=0)


def test_coordinates_lie_in_the_unit_interval():
    t = circle_coordinates(sphere(500, 6).float(), random_great_circles(6, 20))
    assert t.min() >= 0 and t.max() < 1


def test_regularizer_uses_the_closed_form_only_for_the_uniform_prior_and_p2():
    assert bind(regularizers.build("ssw")).closed_form
    assert not bind(regularizers.build("ssw", p=1)).closed_form


def test_regularizer_value_is_the_closed_form_with_its_circles():
    regularizer = bind(regularizers.build("ssw", L=15), dim=6)
    z = sphere(40, 6).float()
    torch.manual_seed(3)
    value = regularizer(z, z)
    torch.manual_seed(3)
    frames = random_great_circles(6, 15)
    expected = w2_to_uniform_circle(fast_sort(circle_coordinates(z, frames))).mean()
    assert value.item() == expected.item()


def test_large_batches_search_the_shifts_in_blocks(monkeypatch):
    """The blocked search (several blocks of shifts) finds the same value as one block."""
    from regularizers import ssw

    s, r = (fast_sort(circle_coordinates(sphere(30, 4, shift), random_great_circles(4, 6)
                                         .double())) for shift in (0.0, 0.5))  # fmt: skip
    whole = circle_wasserstein(s, r)
    monkeypatch.setattr(ssw, "BLOCK_ELEMENTS", 30 * 6 * 7)  # blocks of 7 of the 59 shifts
    assert torch.equal(circle_wasserstein(s, r), whole)


def test_gradient_is_finite_and_lowers_the_penalty():
    regularizer = bind(regularizers.build("ssw", p=1), dim=5, batch_size=64)
    z = sphere(64, 5, shift=2.0).float().requires_grad_()
    torch.manual_seed(0)
    before = regularizer(z, z)
    before.backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    step = torch.nn.functional.normalize(z.detach() - 0.05 * z.grad / z.grad.norm(), dim=1)
    torch.manual_seed(0)
    assert regularizer(step, step).item() < before.item()


def test_bind_refuses_a_prior_off_the_sphere():
    with pytest.raises(ValueError, match="ssw needs codes on the unit sphere; use the sphere"):
        bind(regularizers.build("ssw"), prior=GaussianPrior(8))


@pytest.mark.parametrize("kw", [{"L": 0}, {"p": 0.5}, {"p": math.inf}])
def test_bad_hyperparameters(kw):
    with pytest.raises(ValueError, match="ssw"):
        regularizers.build("ssw", **kw)
