import pytest
import torch

from regularizers import GaussianPrior, SpherePrior, build_prior


def test_sphere_samples_have_unit_norm_and_zero_mean():
    z = SpherePrior(16).sample(20000)
    assert z.shape == (20000, 16)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(20000))
    assert z.mean(0).abs().max() < 0.02


@pytest.mark.parametrize("prior", [SpherePrior(10), GaussianPrior(10, sigma=0.5)])
def test_mean_sq_distance_matches_samples(prior):
    a, b = prior.sample(50000), prior.sample(50000)
    empirical = (a - b).pow(2).sum(1).mean().item()
    assert empirical == pytest.approx(prior.mean_sq_distance, rel=0.02)


def test_samples_follow_the_generator():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(
        SpherePrior(4).sample(5, generator=g1), SpherePrior(4).sample(5, generator=g2)
    )


def test_unknown_prior_lists_known():
    with pytest.raises(ValueError, match="known: gaussian, sphere"):
        build_prior("laplace", 3)


@pytest.mark.parametrize(
    "prior", [SpherePrior(3), SpherePrior(128), GaussianPrior(2), GaussianPrior(128, sigma=0.5)]
)
def test_diameter_bounds_the_distance_between_samples(prior):
    """Sinkhorn's eps-scaling starts from it: every pair of 10,000 samples lies within it,
    and it is not loose by more than the concentration margin (<= 4x the largest pair)."""
    samples = prior.sample(10000)
    norms = samples.norm(dim=1)
    largest = 2 * norms.max().item()  # >= any pairwise distance
    assert torch.cdist(samples[:1000], samples).max().item() <= prior.diameter
    assert largest <= prior.diameter + 1e-5
    assert prior.diameter <= 4 * torch.cdist(samples[:1000], samples).max().item()
