import numpy as np
import ot
import pytest
import torch
from geomloss import SamplesLoss

import regularizers

from tests.conftest import bind


def entropic_ot(x, y, eps):
    """OT_eps = min_P <P, C> + eps KL(P | a x b) with C = |x - y|^2 / 2, solved by POT."""
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    cost = ot.dist(x, y) / 2  # squared Euclidean / 2, geomloss's p = 2 cost
    plan = ot.sinkhorn(a, b, cost, reg=eps, numItermax=100000, stopThr=1e-13)
    support = plan > 0
    kl = np.sum(plan[support] * np.log(plan[support] / np.outer(a, b)[support]))
    return float(np.sum(plan * cost) + eps * kl)


def test_sinkhorn_divergence_matches_pot_debiased_entropic_ot():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(25, 3)) + 0.7
    blur = 0.5
    eps = blur**2
    expected = entropic_ot(x, y, eps) - (entropic_ot(x, x, eps) + entropic_ot(y, y, eps)) / 2
    loss = SamplesLoss("sinkhorn", p=2, blur=blur, scaling=0.99, debias=True)
    value = loss(torch.from_numpy(x), torch.from_numpy(y)).item()
    assert value == pytest.approx(expected, rel=1e-3)  # geomloss stops at a finite tolerance


def test_small_blur_approaches_exact_optimal_transport():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) + 1.0
    exact = ot.emd2(np.full(40, 1 / 40), np.full(40, 1 / 40), ot.dist(x, y) / 2)
    regularizer = regularizers.build("sinkhorn", blur=0.01, scaling=0.95)
    value = regularizer.loss(torch.from_numpy(x), torch.from_numpy(y)).item()
    assert value == pytest.approx(exact, rel=0.01)


def test_regularizer_equals_geomloss_called_directly_on_the_same_prior_samples():
    regularizer = bind(regularizers.build("sinkhorn"), dim=8, batch_size=32)
    z = regularizers.SpherePrior(8).sample(32)
    torch.manual_seed(5)
    ours = regularizer(z, None)
    torch.manual_seed(5)
    y = regularizers.SpherePrior(8).sample(32)
    direct = SamplesLoss("sinkhorn", p=2, blur=0.05, scaling=0.9, debias=True, diameter=2.0)
    assert ours.item() == pytest.approx(direct(z, y).item(), rel=1e-6)


def test_prior_diameter_replaces_the_per_batch_host_read():
    """The sphere's diameter 2 bounds every distance, so geomloss needs no measurement; a
    diameter set by hand wins over the prior's."""
    regularizer = bind(regularizers.build("sinkhorn"), dim=8, batch_size=32)
    assert regularizer.loss.diameter == 2.0 and regularizer.resolved()["diameter"] == 2.0
    z, y = regularizers.SpherePrior(8).sample(64).split(32)
    assert torch.cdist(z, y).max() <= 2.0
    measured = SamplesLoss("sinkhorn", p=2, blur=0.05, scaling=0.9, debias=True)(z, y)
    assert regularizer.loss(z, y).item() == pytest.approx(measured.item(), rel=1e-2)
    manual = bind(regularizers.build("sinkhorn", diameter=5.0), dim=8, batch_size=32)
    assert manual.loss.diameter == 5.0


def test_sinkhorn_gradient_reaches_codes():
    regularizer = bind(regularizers.build("sinkhorn"), dim=8, batch_size=32)
    z = torch.randn(32, 8, requires_grad=True)
    regularizer(z, None).backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"blur": 0}, "sinkhorn.blur must be a finite number > 0"),
        ({"scaling": 1.0}, r"sinkhorn.scaling must be a number in \(0, 1\)"),
        ({"p": 3}, "sinkhorn.p must be one of 1, 2"),
        ({"backend": "gpu"}, "sinkhorn.backend must be one of"),
    ],
)
def test_sinkhorn_rejects_bad_hyperparameters(kw, message):
    with pytest.raises(ValueError, match=message):
        regularizers.build("sinkhorn", **kw)


def test_auto_backend_is_tensorized_without_keops(monkeypatch):
    import regularizers.sinkhorn as module

    monkeypatch.setattr(module, "keops_available", lambda: False)
    assert regularizers.build("sinkhorn").loss.backend == "tensorized"
    monkeypatch.setattr(module, "keops_available", lambda: True)
    assert regularizers.build("sinkhorn").loss.backend == "auto"


def test_far_above_the_codes_distances_the_divergence_is_half_the_squared_mean_gap():
    """The blur range's high_limit: with blur 3 (the top of the range on the unit sphere is
    3 x its RMS distance) the debiased divergence of p = 2 is ||mean(x) - mean(y)||^2 / 2
    (Feydy et al. 2019, Thm 1), to within the next order in (distance / blur)^2 <= (2.6 / 3)^2
    / 4 of the limit's size, and a larger blur brings it closer."""
    from geomloss import SamplesLoss

    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(200, 8, generator=g, dtype=torch.float64), dim=1)
    y = torch.nn.functional.normalize(torch.randn(300, 8, generator=g, dtype=torch.float64), dim=1)
    x = x + 0.3  # a gap between the means
    limit = float(((x.mean(0) - y.mean(0)) ** 2).sum()) / 2
    gaps = [abs(float(SamplesLoss("sinkhorn", p=2, blur=b, scaling=0.9)(x, y)) - limit)
            for b in (3.0, 30.0)]  # fmt: skip
    assert gaps[0] <= (2.6 / 3.0) ** 2 / 4 * limit
    assert gaps[1] < gaps[0]
