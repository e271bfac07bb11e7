import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import hyp1f1

import regularizers
from regularizers.cwae import cw_distance, cw_normality, phi, silverman_gamma
from wae_bench.cli import main

from tests.conftest import bind


def phi_loop(s, dim):
    return (1.0 + 4.0 * s / (2.0 * dim - 3.0)) ** -0.5


def sq(a, b):
    return float(((a - b) ** 2).sum())


def brute_force_normality(x, gamma):
    """The closed form against N(0, I) by explicit loops over i and (i, j)."""
    n, dim = x.shape
    pairs = sum(phi_loop(sq(x[i], x[j]) / (4 * gamma), dim) for i in range(n) for j in range(n))
    norms = sum(phi_loop(sq(x[i], 0 * x[i]) / (2 + 4 * gamma), dim) for i in range(n))
    return (
        pairs / (2 * n * n * math.sqrt(math.pi * gamma))
        + 1 / (2 * math.sqrt(math.pi * (1 + gamma)))
        - math.sqrt(2) / (n * math.sqrt(math.pi * (1 + 2 * gamma))) * norms
    )


def brute_force_distance(x, y, gamma):
    """The sample form by explicit double loops, all pairs i = j included."""
    dim = x.shape[1]

    def mean_k(a, b):
        total = sum(phi_loop(sq(ai, bj) / (4 * gamma), dim) for ai in a for bj in b)
        return total / (len(a) * len(b))

    return (mean_k(x, x) + mean_k(y, y) - 2 * mean_k(x, y)) / (2 * math.sqrt(math.pi * gamma))


def test_closed_form_matches_brute_force_double_loop():
    x = torch.randn(9, 24, dtype=torch.float64) * 0.7 + 0.2
    # float64: 81 kernel values of 24-term distances; the three terms add up to 10-170x the
    # result here (most at gamma = 2): error <= ~110 eps64 * 170 = 2e-12; 1e-10 leaves 50x.
    for gamma in (0.05, silverman_gamma(9), 2.0):
        assert cw_normality(x, gamma).item() == pytest.approx(
            brute_force_normality(x, gamma), rel=1e-10
        )


def test_sample_form_matches_brute_force_double_loop():
    x = torch.randn(9, 24, dtype=torch.float64)
    y = torch.randn(7, 24, dtype=torch.float64) + 0.3
    # float64: <= 81 kernel values per mean, the means add up to 3-15x the result here:
    # error <= ~110 eps64 * 15 = 2e-13; 1e-10 leaves 500x.
    for gamma in (0.01, 0.3):
        assert cw_distance(x, y, gamma).item() == pytest.approx(
            brute_force_distance(x, y, gamma), rel=1e-10
        )


def projected_l2(x, target_density, gamma, directions=4000, seed=0):
    """The definition: mean over random unit v of int (sm_gamma(v.x)(t) - target(t))^2 dt.

    Quadrature on a grid of t; Monte Carlo over v. Checks the closed forms' constants.
    """
    rng = np.random.default_rng(seed)
    t = np.linspace(-6, 6, 601)
    total = 0.0
    for _ in range(directions // 1000):
        v = rng.standard_normal((1000, x.shape[1]))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        centers = x @ v.T  # n x 1000
        gauss = np.exp(-((t - centers[..., None]) ** 2) / (2 * gamma))
        smoothed = gauss.mean(0) / math.sqrt(2 * math.pi * gamma)  # 1000 x T
        total += np.trapezoid((smoothed - target_density(t, v)) ** 2, t, axis=1).sum()
    return total / directions


def test_closed_form_is_the_projected_l2_distance_to_the_smoothed_gaussian():
    x = np.random.default_rng(1).standard_normal((6, 128)) * 0.6 + 0.15
    gamma = 0.3

    def smoothed_normal(t, v):  # N(0, 1) smoothed by N(0, gamma): N(0, 1 + gamma)
        return np.exp(-(t**2) / (2 * (1 + gamma))) / math.sqrt(2 * math.pi * (1 + gamma))

    expected = projected_l2(x, smoothed_normal, gamma)
    assert cw_normality(torch.from_numpy(x), gamma).item() == pytest.approx(expected, rel=0.02)


def test_sample_form_is_the_projected_l2_distance_between_smoothed_samples():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((5, 128)), rng.standard_normal((4, 128)) * 0.5 + 0.2
    gamma = 0.3

    def smoothed_y(t, v):
        centers = y @ v.T  # m x 1000
        gauss = np.exp(-((t - centers[..., None]) ** 2) / (2 * gamma))
        return gauss.mean(0) / math.sqrt(2 * math.pi * gamma)

    expected = projected_l2(x, smoothed_y, gamma)
    value = cw_distance(torch.from_numpy(x), torch.from_numpy(y), gamma).item()
    assert value == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize("dim", [20, 32, 128])
def test_phi_is_within_the_papers_accuracy_of_kummers_function(dim):
    s = np.logspace(-3, 3, 200)
    exact = hyp1f1(0.5, dim / 2, -s)
    approx = phi(torch.from_numpy(s), dim).numpy()
    np.testing.assert_allclose(approx, exact, rtol=0.011)


def test_silverman_gamma_is_the_squared_rule_of_thumb_bandwidth():
    for n, variance in ((64, 1.0), (4096, 1 / 128)):  # h = 1.06 sigma n^(-1/5), gamma = h^2
        assert silverman_gamma(n, variance) == pytest.approx(1.06**2 * variance * n**-0.4, 2e-3)


def test_closed_form_of_prior_samples_is_small_and_grows_with_a_shift():
    z = torch.randn(512, 64, dtype=torch.float64)
    gamma = silverman_gamma(512)
    values = [cw_normality(z + shift, gamma).item() for shift in (0.0, 0.2, 0.5)]
    assert 0 < values[0] < 0.1 * values[2]
    assert values[0] < values[1] < values[2]


def test_sample_form_of_prior_samples_is_small_and_grows_with_a_shift():
    prior = regularizers.SpherePrior(128)
    a, b = prior.sample(512), prior.sample(512)
    gamma = silverman_gamma(512, 1 / 128)
    values = [
        cw_distance(torch.nn.functional.normalize(a + shift, dim=1), b, gamma).item()
        for shift in (0.0, 0.03, 0.1)
    ]
    assert 0 < values[0] < 0.1 * values[2]
    assert values[0] < values[1] < values[2]


def test_scaling_codes_and_prior_by_c_and_gamma_by_c_squared_divides_by_c():
    x, y = torch.randn(7, 20, dtype=torch.float64), torch.randn(5, 20, dtype=torch.float64)
    scaled = cw_distance(3.0 * x, 3.0 * y, 9.0 * 0.2).item()
    # float64: 3x and 9 * 0.2 round (eps64 each), 20-term distances and means of <= 49 values
    # that add up to 9x the result: ~(70 eps64) * 9 = 7e-14 per side; 1e-12 leaves 7x.
    assert scaled == pytest.approx(cw_distance(x, y, 0.2).item() / 3.0, rel=1e-12)


def test_sample_form_of_a_set_with_itself_is_zero():
    x = regularizers.SpherePrior(16).sample(64)
    assert cw_distance(x, x, 0.01).item() == pytest.approx(0.0, abs=1e-6)


def test_regularizer_is_the_log_of_the_closed_form_on_the_standard_gaussian():
    regularizer = bind(regularizers.build("cwae"), prior=regularizers.GaussianPrior(8))
    z = torch.randn(16, 8) + 0.5
    expected = torch.log(cw_normality(z, silverman_gamma(16)))
    torch.testing.assert_close(regularizer(z, None), expected)


@pytest.mark.parametrize(
    ("prior", "variance"),
    [(regularizers.SpherePrior(8), 1 / 8), (regularizers.GaussianPrior(8, sigma=2.0), 4.0)],
)
def test_regularizer_uses_prior_samples_and_scaled_gamma_otherwise(prior, variance):
    regularizer = bind(regularizers.build("cwae"), prior=prior)
    z = prior.sample(16) + 0.1
    torch.manual_seed(5)
    value = regularizer(z, None)
    torch.manual_seed(5)
    expected = torch.log(cw_distance(z, prior.sample(16), silverman_gamma(16, variance)))
    torch.testing.assert_close(value, expected)


def test_given_gamma_replaces_the_rule_of_thumb():
    regularizer = bind(regularizers.build("cwae", gamma=0.7), prior=regularizers.GaussianPrior(8))
    z = torch.randn(16, 8)
    torch.testing.assert_close(regularizer(z, None), torch.log(cw_normality(z, 0.7)))


@pytest.mark.parametrize("prior", [regularizers.GaussianPrior(8), regularizers.SpherePrior(8)])
def test_gradient_step_lowers_the_penalty(prior):
    regularizer = bind(regularizers.build("cwae"), prior=prior, batch_size=64)
    z = (prior.sample(64) * 0.3 + 0.4).requires_grad_()
    torch.manual_seed(1)
    before = regularizer(z, None)
    before.backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    torch.manual_seed(1)  # the same prior samples for the sample form
    assert regularizer(z.detach() - 0.05 * z.grad, None) < before


def test_build_with_defaults():
    regularizer = regularizers.build("cwae")
    assert regularizer.hparams() == {"gamma": None}
    assert "cwae" in regularizers.available()


@pytest.mark.parametrize("gamma", [0, -0.1, float("nan"), float("inf"), "0.1", True])
def test_rejects_bad_gamma(gamma):
    with pytest.raises(ValueError, match=r"cwae.gamma must be a finite number > 0, got "):
        regularizers.build("cwae", gamma=gamma)


def test_rejects_a_one_dimensional_latent():
    with pytest.raises(ValueError, match="cwae needs a latent dimension of at least 2, got 1"):
        bind(regularizers.build("cwae"), dim=1)


def test_cwae_trains_through_the_cli(tmp_path):
    args = ["latent", "--methods", "cwae", "--epochs", "2", "--points", "64", "--batch-size"]
    args += ["16", "--data-dim", "6", "--hidden-dim", "16", "--latent-dim", "20", "--quiet"]
    assert main([*args, "--eval-directions", "20", "--out", str(tmp_path)]) == 0
    swd = pd.read_csv(tmp_path / "curves.csv").set_index("epoch")["swd"]
    assert swd[2] < swd[0]
    assert json.loads((tmp_path / "config.json").read_text())["hparams"]["cwae"] == {"gamma": None}
