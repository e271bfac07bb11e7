"""Every hyper-parameter of every built-in method is varied and its effect checked.

A hyper-parameter that acts on the value is checked against the value written out here
(float64, independently of the library's own helpers); one that acts across steps (momentum,
queue size, learning rate) against the state after a few steps. Each value check is guarded:
the expected value under a changed setting lies more than GUARD tolerances away, so a method
that ignored the setting would fail. ``test_every_hyperparameter_is_in_the_table`` parses the
table below and fails when a built-in method has a hyper-parameter the table does not name.

Parameter -> a test that varies it and checks its effect (this file unless a file is named):

    cwae.gamma        test_cwae_gamma_and_its_default_set_the_smoothing
    cwae.gamma        test_cwae.py::test_given_gamma_replaces_the_rule_of_thumb
    gan.hidden        test_gan_hidden_and_layers_shape_the_discriminator
    gan.layers        test_gan_hidden_and_layers_shape_the_discriminator
    gan.lr            test_gan_lr_sets_the_size_of_the_first_adam_step
    mmd.kernel        test_mmd_kernel_and_base_scale_against_a_double_loop
    mmd.base_scale    test_mmd_kernel_and_base_scale_against_a_double_loop
    moca.tau          test_moca_tau_divides_the_logits
    moca.K            test_moca_K_keeps_the_K_newest_keys_as_negatives
    moca.K            test_moca.py::test_queue_is_fifo_and_wraps_around
    moca.m            test_moca_m_and_the_cosine_schedule_move_the_key_encoder
    moca.m            test_moca.py::test_key_encoder_follows_ema_of_parameters_and_batchnorm_buffers
    sinkhorn.blur     test_sinkhorn_settings_reach_geomloss
    sinkhorn.blur     test_sinkhorn.py::test_small_blur_approaches_exact_optimal_transport
    sinkhorn.scaling  test_sinkhorn_settings_reach_geomloss
    sinkhorn.p        test_sinkhorn_settings_reach_geomloss
    sinkhorn.backend  test_sinkhorn_backend_is_the_solver_used
    sinkhorn.backend  test_sinkhorn.py::test_auto_backend_is_tensorized_without_keops
    sinkhorn.diameter test_sinkhorn_settings_reach_geomloss
    ssw.L             test_ssw_L_and_p_against_optimal_matchings
    ssw.p             test_ssw_L_and_p_against_optimal_matchings
    swd.L             test_swd_L_and_p_against_sorted_projections
    swd.p             test_swd_L_and_p_against_sorted_projections
    unif.t            test_unif_t_against_a_double_loop

``energy`` has no hyper-parameter (the table test checks that too).

Defaults derived from the prior (or the run), each under every prior the method accepts:

- mmd.base_scale None: C0 = 2 on the sphere, 2 d sigma^2 for N(0, sigma^2 I) (sigma 1 and 0.5):
  the kernel scales and the value (test_mmd_kernel_and_base_scale_against_a_double_loop).
- cwae.gamma None: Silverman's sigma^2 (4 / (3 n))^(2/5) per batch of n (two batch sizes),
  sigma^2 = 1/d on the sphere, 1 for N(0, I) (closed form), sigma^2 for N(0, sigma^2 I) (sample
  form) (test_cwae_gamma_and_its_default_set_the_smoothing).
- sinkhorn.diameter None: 2 on the sphere, 2 sigma (sqrt(d) + 6) for N(0, sigma^2 I) (sigma 1
  and 0.5): ``resolved()`` and the value (test_sinkhorn_settings_reach_geomloss).
- moca.K None: min(dataset size, 16384), sphere only (test_moca.py::test_moca_needs_the_sphere_prior
  checks the refusal of another): test_moca_K_keeps_the_K_newest_keys_as_negatives (dataset
  size 56) and test_moca.py::test_moca_default_queue_is_dataset_size_capped_at_16384 (the cap).
- ssw: the closed form is taken for the uniform sphere prior with p = 2, else prior samples
  (test_ssw_L_and_p_against_optimal_matchings; ssw accepts the sphere only).
- gan: the discriminator's input width is the prior's dimension, under the sphere and Gaussian
  priors (test_gan_hidden_and_layers_shape_the_discriminator).

Tolerances: the library computes in float32, the references in float64 from the same float32
inputs, so each bound is float32's eps times the length of the reductions (and the
sensitivity of the formula), written next to each check.
"""

import ast
import copy
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from geomloss import SamplesLoss
from scipy.optimize import linear_sum_assignment
from torch import nn

import regularizers
from regularizers import GaussianPrior, SpherePrior
from regularizers.sinkhorn import keops_available

from tests.conftest import bind

EPS32 = torch.finfo(torch.float32).eps
SEED = 123  # the seed each forward's prior samples and random directions are drawn under
# A guard asserts that the reference under a changed setting is more than GUARD tolerances away:
# a method that used the changed setting would then land more than 2 tolerances outside.
GUARD = 3


def seeded_value(regularizer, z, x=None, seed=SEED):
    """regularizer(z, x) with the global generator at ``seed`` (the draws the references replay)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        return regularizer(z, x).item()


def off_prior_codes(prior, n, seed=0, shift=0.8):
    """n codes that do not follow ``prior``: shifted along the first axis (normalized on the
    sphere), so every divergence is well above zero."""
    g = torch.randn(n, prior.dim, generator=torch.Generator().manual_seed(seed))
    g[:, 0] += shift
    if prior.on_sphere:
        return F.normalize(g, dim=1)
    return prior.sigma * (0.7 * g)


def prior_id(prior):
    return f"{prior.name}{prior.dim}" + (f"-s{prior.sigma}" if hasattr(prior, "sigma") else "")


class UnitLinear(nn.Module):
    """x -> W x + b, L2-normalized: an encoder onto the sphere."""

    def __init__(self, dim):
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, x):
        return F.normalize(self.linear(x), dim=1)


# ------------------------------------------------------------------------------------ table


TABLE_ROW = re.compile(r"^    (\w+)\.(\w+) +((?:\w+\.py::)?\w+)$", re.MULTILINE)


def test_every_hyperparameter_is_in_the_table():
    """The table of the module docstring names every (method, hyper-parameter) of the registry,
    nothing else, and each test it names exists."""
    rows = TABLE_ROW.findall(__doc__)
    named = {(method, param) for method, param, _ in rows}
    registered = {  # the built-in methods (a plug-in installed here is not this table's)
        (name, param)
        for name in regularizers.available()
        if regularizers.get(name).__module__.startswith("regularizers.")
        for param in regularizers.hyperparameter_defaults(regularizers.get(name))
    }
    assert named == registered
    assert regularizers.hyperparameter_defaults(regularizers.get("energy")) == {}
    here = Path(__file__)
    for _, _, ref in rows:
        file, _, test = ref.rpartition("::")
        tree = ast.parse((here.parent / file if file else here).read_text())
        assert test in {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}, ref


# ------------------------------------------------------------------------------------ moca


def contrastive_reference(q, k, negatives, tau):
    """mean_i [logsumexp_j l_ij - l_i0], l_i = [q_i.k_i, q_i.negatives^T] / tau, float64."""
    q, k, negatives = (np.asarray(a, dtype=np.float64) for a in (q, k, negatives))
    logits = np.concatenate([(q * k).sum(1, keepdims=True), q @ negatives.T], axis=1) / tau
    top = logits.max(1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(logits - top).sum(1))
    return float((lse - logits[:, 0]).mean())


def contrastive_tolerance(d, n, negatives, tau, value):
    """float32 logits: two unit vectors' dot product over d terms, the key itself recomputed
    (<= (2d + 4) eps), divided by tau (+ eps): <= (2d + 5) eps / tau each. The cross-entropy
    takes two of them, a sum of K + 1 exponentials (<= (K + 1) eps relative, as much absolute
    in the log) and a mean over n."""
    return 2 * (2 * d + 5) * EPS32 / tau + (negatives + n + 4) * EPS32 * (1 + abs(value))


def test_moca_tau_divides_the_logits():
    d, n, K = 8, 16, 48
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(1))
    values, references = {}, {}
    for tau in (0.05, 0.5):
        torch.manual_seed(0)
        encoder = UnitLinear(d)
        regularizer = bind(regularizers.build("moca", tau=tau, K=K), encoder=encoder, dim=d,
                   batch_size=n)  # fmt: skip
        with torch.no_grad():
            z = encoder(x)
            values[tau] = regularizer(z, x).item()
        # the key encoder is a copy of the encoder: k = normalize(W x + b), here in float64
        w, b = (t.detach().double() for t in (encoder.linear.weight, encoder.linear.bias))
        k = F.normalize(x.double() @ w.T + b, dim=1)
        references[tau] = contrastive_reference(z.double(), k, regularizer.queue.double(), tau)
    for tau in values:
        tol = contrastive_tolerance(d, n, K, tau, references[tau])
        assert values[tau] == pytest.approx(references[tau], abs=tol)
        other = references[0.5 if tau == 0.05 else 0.05]
        assert abs(other - references[tau]) > GUARD * tol  # tau changes the value


def match_rows(actual, expected, tol):
    """Whether the rows of ``actual`` are those of ``expected`` in some order (a multiset:
    the loss does not depend on the queue's order), each within ``tol``."""
    if actual.shape != expected.shape:
        return False
    cost = torch.cdist(actual.double(), expected.double()).numpy()
    rows, cols = linear_sum_assignment(cost)
    return bool(cost[rows, cols].max() <= tol)


@pytest.mark.parametrize(
    ("K", "dataset_size", "queue_size"),
    [(16, 256, 16), (40, 256, 40), (200, 256, 200), (None, 56, 56)],
)
def test_moca_K_keeps_the_K_newest_keys_as_negatives(K, dataset_size, queue_size):
    """After 4 batches of 16 the queue holds the K newest of (its K initial rows, oldest first,
    then the 64 keys): a FIFO of length K. The encoder does not move, so the key encoder stays
    equal to it and the keys are the codes. The next loss uses those K rows as negatives."""
    d, n, steps = 8, 16, 4
    torch.manual_seed(0)
    encoder = UnitLinear(d)
    regularizer = bind(regularizers.build("moca", K=K), encoder=encoder, dim=d, batch_size=n,
               dataset_size=dataset_size)  # fmt: skip
    assert regularizer.hparams()["K"] == K and regularizer.resolved()["K"] == queue_size
    history = list(regularizer.queue.clone())
    assert len(history) == queue_size
    data = torch.randn(steps + 1, n, d, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for x in data[:steps]:
            z = encoder(x)
            regularizer(z, x)
            regularizer.after_step(z, x)
            history.extend(z)
        expected = torch.stack(history[-queue_size:])
        # keys are the same float32 ops on the same weights as the codes; 4 eps of slack
        assert match_rows(regularizer.queue, expected, 4 * EPS32)
        if queue_size < steps * n:  # the initial rows are gone
            assert not match_rows(regularizer.queue, torch.stack(history[:queue_size]), 0.1)
        x = data[steps]
        z = encoder(x)
        value = regularizer(z, x).item()
    reference = contrastive_reference(z, z, expected, 0.1)
    assert value == pytest.approx(reference, abs=contrastive_tolerance(d, n, queue_size, 0.1,
                                                                       reference))  # fmt: skip


def cosine_momentum(m, t, total):
    """The schedule: m_t = 1 - (1 - m) (cos(pi t / T) + 1) / 2, held at 1 after T."""
    return 1 - (1 - m) * (math.cos(math.pi * min(t, total) / total) + 1) / 2


def ema_reference(start, queries, m, total, schedule=True):
    """theta_k after each after_step: theta_k <- m_t theta_k + (1 - m_t) theta_q, float64."""
    key = [p.double() for p in start]
    for t, query in enumerate(queries):
        m_t = cosine_momentum(m, t, total) if schedule else m
        key = [m_t * k + (1 - m_t) * q.double() for k, q in zip(key, query, strict=True)]
    return key


@pytest.mark.parametrize("m", [0.0, 0.9, 0.99])
def test_moca_m_and_the_cosine_schedule_move_the_key_encoder(m):
    """T = 4 steps and 2 more, the encoder moved by a random step before each after_step: the
    key encoder follows the EMA at m_t of the cosine schedule, frozen once t >= T."""
    d, n, total = 8, 16, 4
    torch.manual_seed(0)
    encoder = UnitLinear(d)
    regularizer = bind(regularizers.build("moca", m=m, K=64), encoder=encoder, dim=d, batch_size=n,
               total_steps=total)  # fmt: skip
    start = [p.detach().clone() for p in encoder.parameters()]
    queries = []
    gen = torch.Generator().manual_seed(3)
    for _ in range(total + 2):
        x = torch.randn(n, d, generator=gen)
        with torch.no_grad():
            z = encoder(x)
            regularizer(z, x)
            for p in encoder.parameters():  # the optimizer's step
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
            queries.append([p.detach().clone() for p in encoder.parameters()])
            regularizer.after_step(z, x)
    expected = ema_reference(start, queries, m, total)
    # per step a float32 lerp (<= 2 eps |theta|) with the weight 1 - m_t off by <= 5 eps (a
    # cosine and three float32 operations) times |theta_q - theta_k| <= 2 max|theta|: <= 12 eps
    # max|theta| per step, not amplified (a convex combination), over 6 steps
    scale = max(float(q.abs().max()) for step in queries for q in step)
    tol = 12 * len(queries) * EPS32 * scale
    key = [p.detach().double() for p in regularizer.key_encoder.parameters()]
    for actual, wanted in zip(key, expected, strict=True):
        torch.testing.assert_close(actual, wanted, rtol=0, atol=tol)
    # guards: another m, or m without the schedule, ends elsewhere
    for other in (ema_reference(start, queries, (1 + m) / 2, total),
                  ema_reference(start, queries, m, total, schedule=False)):  # fmt: skip
        gap = max(float((a - b).abs().max()) for a, b in zip(other, expected, strict=True))
        assert gap > GUARD * tol


# ------------------------------------------------------------------------------------ mmd

MULTIPLIERS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # the WAE paper's scale grid
# (prior, C0 written out: 2 on the sphere, 2 d sigma^2 for a Gaussian)
MMD_PRIORS = [(SpherePrior(6), 2.0), (GaussianPrior(6), 12.0), (GaussianPrior(6, 0.5), 3.0)]


def mmd_reference(x, y, kernel, c0, err_d2=0.0):
    """Unbiased MMD^2 over explicit pairs of points (differences, not the expansion), and a
    bound on how far the float32 value can be when each squared distance is off by
    ``err_d2``: each kernel term moves by at most its slope at d^2 - err_d2 (both kernels
    decrease and flatten with d^2) times err_d2, plus its rounding (per scale <= 2 eps of the
    term, and an exponential's argument a adds a eps e^-a <= eps/e: <= 3 eps absolute; the sum
    over the 7 scales 6 eps of it); the means (N terms, summed naively in float32) add N eps of
    their mean absolute term, and enter with weights 1, 1 and 2."""
    x, y = x.double().numpy(), y.double().numpy()
    scales = c0 * np.array(MULTIPLIERS)

    def mean_k(a, b, skip_diagonal):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        low = np.maximum(d2 - err_d2, 0)[..., None]
        if kernel == "imq":
            k, slope = scales / (scales + d2[..., None]), scales / (scales + low) ** 2
        else:
            k, slope = np.exp(-d2[..., None] / scales), np.exp(-low / scales) / scales
        k, err = k.sum(-1), slope.sum(-1) * err_d2 + (6 * k.sum(-1) + 7 * 3) * EPS32
        if skip_diagonal:
            keep = ~np.eye(len(a), dtype=bool)
            k, err = k[keep], err[keep]
        return k.mean(), err.mean() + k.size * EPS32 * np.abs(k).mean()

    (kxx, exx), (kyy, eyy), (kxy, exy) = (mean_k(x, x, True), mean_k(y, y, True),
                                           mean_k(x, y, False))  # fmt: skip
    return float(kxx + kyy - 2 * kxy), float(exx + eyy + 2 * exy)


@pytest.mark.parametrize(("prior", "prior_c0"), MMD_PRIORS, ids=lambda v: prior_id(v)
                         if isinstance(v, regularizers.Prior) else str(v))  # fmt: skip
@pytest.mark.parametrize("base_scale", [None, 0.3, 7.0])
@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_mmd_kernel_and_base_scale_against_a_double_loop(kernel, base_scale, prior, prior_c0):
    n = 12
    regularizer = bind(regularizers.build("mmd", kernel=kernel, base_scale=base_scale),
                       dim=prior.dim, batch_size=n, prior=prior)  # fmt: skip
    c0 = base_scale or prior_c0
    torch.testing.assert_close(regularizer.scales, torch.tensor([c0 * s for s in MULTIPLIERS]))
    z = off_prior_codes(prior, n, shift=2.0)
    value = seeded_value(regularizer, z)
    torch.manual_seed(SEED)
    y = prior.sample(n)
    # float32: |x|^2 + |y|^2 - 2 x.y over d terms is off by <= (d + 3) eps 4 R^2
    err_d2 = (prior.dim + 3) * EPS32 * 4 * float(torch.cat([z, y]).pow(2).sum(1).max())
    reference, tol = mmd_reference(z, y, kernel, c0, err_d2)
    assert value == pytest.approx(reference, abs=tol)
    other_kernel = "rbf" if kernel == "imq" else "imq"  # guards: each setting shows
    assert abs(mmd_reference(z, y, other_kernel, c0)[0] - reference) > GUARD * tol
    assert abs(mmd_reference(z, y, kernel, 2 * c0)[0] - reference) > GUARD * tol


# ------------------------------------------------------------------------------------ swd


def swd_reference(z, y, gaussians, p):
    """mean over the directions (columns of ``gaussians``, normalized) and the order
    statistics of |sorted(z theta) - sorted(y theta)|^p, float64."""
    theta = gaussians.double() / gaussians.double().norm(dim=0, keepdim=True)
    a = np.sort((z.double() @ theta).numpy(), axis=0)
    b = np.sort((y.double() @ theta).numpy(), axis=0)
    return float((np.abs(a - b) ** p).mean()), float(np.abs(a - b).max())


@pytest.mark.parametrize("prior", [SpherePrior(6), GaussianPrior(6, 0.5)], ids=prior_id)
@pytest.mark.parametrize(("L", "p"), [(1, 2.0), (7, 2.0), (7, 1.0), (7, 3.0)])
def test_swd_L_and_p_against_sorted_projections(L, p, prior):
    """The forward draws B prior samples, then L directions: replayed here."""
    n, d = 24, prior.dim
    regularizer = bind(regularizers.build("swd", L=L, p=p), dim=d, batch_size=n, prior=prior)
    z = off_prior_codes(prior, n)
    value = seeded_value(regularizer, z)

    def reference(directions, order):
        torch.manual_seed(SEED)
        y = prior.sample(n)
        return (y, *swd_reference(z, y, torch.randn(d, directions), order))

    y, expected, largest = reference(L, p)
    # float32: a direction normalized and a d-term dot product: each projection off by
    # <= delta = 2 (d + 2) eps R; sorting is 1-Lipschitz (sup norm), so each difference is off by
    # <= 2 delta and its p-th power by <= p D^(p-1) 2 delta (+ the pow's rounding); the mean of
    # n L terms, summed naively, adds <= n L eps of the value.
    radius = float(torch.cat([z, y]).norm(dim=1).max())
    delta = 2 * (d + 2) * EPS32 * radius
    tol = p * (largest + 2 * delta) ** (p - 1) * 2 * delta + (n * L + p + 2) * EPS32 * expected
    assert value == pytest.approx(expected, abs=tol)
    assert abs(reference(L + 1, p)[1] - expected) > GUARD * tol  # guards: L and p show
    assert abs(reference(L, p + 1)[1] - expected) > GUARD * tol


# ------------------------------------------------------------------------------------ ssw


def circle_coordinate(points, frame):
    """Coordinates in [0, 1) of the points projected on the great circle spanned by ``frame``
    (any orthonormal basis of the plane: W_p on the circle ignores rotations and reflections)."""
    planar = points @ frame
    return np.mod(np.arctan2(planar[:, 1], planar[:, 0]) / (2 * np.pi), 1.0)


def w2_to_uniform_exact(t):
    """Bonet et al. Prop. 1, W_2^2 = int_0^1 (F^-1(s) - s - a)^2 ds, a = mean(t) - 1/2,
    integrated exactly over each step [(i-1)/n, i/n] of the empirical quantile function."""
    t = np.sort(t)
    n = len(t)
    c = t - (t.mean() - 0.5)
    lower, upper = np.arange(n) / n, np.arange(1, n + 1) / n
    return float((((c - lower) ** 3 - (c - upper) ** 3) / 3).sum())


def circle_wasserstein_by_assignment(s, r, p):
    """W_p^p between two sets of n equal masses on the circle: the best permutation for the
    geodesic cost (Birkhoff), found by the Hungarian algorithm."""
    gap = np.abs(s[:, None] - r[None, :])
    cost = np.minimum(gap, 1 - gap) ** p
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def ssw_reference(z, circles, p, closed_form):
    """Replays the forward's draws (L frames, then B prior samples unless closed form) and
    returns (SSW_p^p, the tolerance for the float32 value)."""
    n, d = z.shape
    torch.manual_seed(SEED)
    gaussians = torch.randn(circles, d, 2).double().numpy()
    prior = None if closed_form else SpherePrior(d).sample(n).double().numpy()
    codes = z.double().numpy()
    values, tols = [], []
    for g in gaussians:
        frame = np.linalg.qr(g)[0]  # d x 2, the plane of the two Gaussian columns
        sets = [codes] if prior is None else [codes, prior]
        radius = min(float(np.linalg.norm(pts @ frame, axis=1).min()) for pts in sets)
        t = [circle_coordinate(pts, frame) for pts in sets]
        value = (w2_to_uniform_exact(t[0]) if closed_form
                 else circle_wasserstein_by_assignment(t[0], t[1], p))  # fmt: skip
        # float32: frame (Gram-Schmidt) and projection off by <= 2 (d + 4) eps per unit, an angle
        # by that over the planar radius, and atan2, the shift to [0, 1) and the remainder add
        # <= 4 eps: each coordinate is off by <= e (in turns). Each set moves by <= e in W_p
        # (geodesic), so W_p by <= 2 e and W_p^p by <= p (W_p + 2e)^(p-1) 2e; the final float32
        # sums over n terms (and the near-optimal shift chosen in float32) add the rest.
        e = 2 * (d + 4) * EPS32 / (2 * np.pi * radius) + 4 * EPS32
        wp = value ** (1 / p)
        tols.append(p * (wp + 2 * e) ** (p - 1) * 2 * e + 40 * EPS32 + (n + 8) * EPS32 * value)
        values.append(value)
    return float(np.mean(values)), float(np.mean(tols))


@pytest.mark.parametrize(("L", "p"), [(1, 2.0), (6, 2.0), (6, 1.0), (3, 1.5), (3, 3.0)])
def test_ssw_L_and_p_against_optimal_matchings(L, p):
    """L fresh great circles; p = 2 against the uniform prior in closed form (checked by
    integrating Prop. 1 exactly), any other p against B prior samples (checked by the optimal
    permutation on each circle)."""
    n, d = 16, 5
    regularizer = bind(regularizers.build("ssw", L=L, p=p), dim=d, batch_size=n)
    assert regularizer.closed_form == (p == 2)
    z = off_prior_codes(SpherePrior(d), n)
    value = seeded_value(regularizer, z, z)
    expected, tol = ssw_reference(z, L, p, closed_form=p == 2)
    assert value == pytest.approx(expected, abs=tol)
    # guards: one more circle, or another p (against samples), gives another value
    assert abs(ssw_reference(z, L + 1, p, closed_form=p == 2)[0] - expected) > GUARD * tol
    assert abs(ssw_reference(z, L, p + 1, closed_form=False)[0] - expected) > GUARD * tol


# ------------------------------------------------------------------------------------ sinkhorn

# (prior, the diameter the eps-scaling starts from by default, written out)
SINKHORN_PRIORS = [(SpherePrior(6), 2.0),
                   (GaussianPrior(6), 2 * (math.sqrt(6) + 6)),
                   (GaussianPrior(6, 0.5), 2 * 0.5 * (math.sqrt(6) + 6))]  # fmt: skip
SINKHORN_SETTINGS = [  # (blur, scaling, p, diameter); the first is the default
    (0.05, 0.9, 2, None),
    (0.2, 0.9, 2, None),
    (0.05, 0.6, 2, None),
    (0.05, 0.9, 1, None),
    (0.05, 0.6, 2, 9.0),
]


def geomloss_direct(z, y, blur, scaling, p, diameter, backend="tensorized"):
    weights = z.new_full((len(z),), 1.0 / len(z))
    loss = SamplesLoss("sinkhorn", p=p, blur=blur, scaling=scaling, debias=True,
                       backend=backend, diameter=diameter)  # fmt: skip
    with torch.no_grad():
        return loss(weights, z, weights, y).item()


@pytest.mark.parametrize(("prior", "prior_diameter"), SINKHORN_PRIORS, ids=lambda v: prior_id(v)
                         if isinstance(v, regularizers.Prior) else f"{v:.3g}")  # fmt: skip
@pytest.mark.parametrize(("blur", "scaling", "p", "diameter"), SINKHORN_SETTINGS)
def test_sinkhorn_settings_reach_geomloss(blur, scaling, p, diameter, prior, prior_diameter):
    """The value is geomloss's SamplesLoss("sinkhorn", debias=True) at these settings, started
    from ``diameter`` or the prior's, on the same prior samples: the same float32 kernels on
    the same inputs (B = 32, weights 1/32 exact), so equal to the last bit. Each setting, and
    the diameter, changed alone gives another value."""
    n = 32
    regularizer = bind(regularizers.build("sinkhorn", blur=blur, scaling=scaling, p=p,
                                  diameter=diameter),
               dim=prior.dim, batch_size=n, prior=prior)  # fmt: skip
    start = diameter or prior_diameter
    assert regularizer.resolved()["diameter"] == pytest.approx(start, rel=1e-15)
    z = off_prior_codes(prior, n)
    value = seeded_value(regularizer, z)
    torch.manual_seed(SEED)
    y = prior.sample(n)
    assert value == geomloss_direct(z, y, blur, scaling, p, start)
    for changed in ((2 * blur, scaling, p, start), (blur, 0.75, p, start),
                    (blur, scaling, 3 - p, start), (blur, scaling, p, 3 * start)):  # fmt: skip
        assert geomloss_direct(z, y, *changed) != value, changed


@pytest.mark.parametrize("backend", ["auto", "tensorized", "online", "multiscale"])
def test_sinkhorn_backend_is_the_solver_used(backend):
    """The backend "auto" is tensorized without pykeops (geomloss's own choice with it); a named
    backend is used as given. Only the tensorized solver is captured. The KeOps backends run
    only where pykeops is installed."""
    keops = keops_available()
    if backend in ("online", "multiscale") and not keops:  # refused at once, in one line
        with pytest.raises(ValueError, match=f"sinkhorn.backend '{backend}' needs pykeops"):
            regularizers.build("sinkhorn", backend=backend)
        return
    regularizer = bind(regularizers.build("sinkhorn", backend=backend), dim=6, batch_size=32)
    solver = "tensorized" if backend == "auto" and not keops else backend
    assert regularizer.loss.backend == solver
    assert regularizer.capturable == (solver == "tensorized")
    z = off_prior_codes(SpherePrior(6), 32)
    value = seeded_value(regularizer, z)
    torch.manual_seed(SEED)
    y = SpherePrior(6).sample(32)
    expected = geomloss_direct(z, y, 0.05, 0.9, 2, 2.0, backend=solver)
    if solver == "tensorized":  # the same kernels as the direct call: bit for bit
        assert value == expected
    else:  # KeOps sums in its own order: <= n eps per log-sum-exp, at each eps-scaling step
        steps = math.ceil(2 * math.log(2.0 / 0.05) / math.log(1 / 0.9)) + 2
        assert value == pytest.approx(expected, rel=steps * 32 * EPS32)


# ------------------------------------------------------------------------------------ gan


def discriminator_linears(regularizer):
    return [m for m in regularizer.discriminator.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize(("hidden", "layers", "prior"),
                         [(8, 1, SpherePrior(6)), (16, 3, GaussianPrior(5)),
                          (4, 2, GaussianPrior(7, 0.5))],
                         ids=["h8-l1-sphere", "h16-l3-gauss", "h4-l2-gauss-s0.5"])  # fmt: skip
def test_gan_hidden_and_layers_shape_the_discriminator(hidden, layers, prior):
    """D: R^d -> R with ``layers`` hidden ReLU layers of width ``hidden``; the penalty is
    -mean log sigmoid(D(z)) with that D, evaluated layer by layer here in float64."""
    n, d = 32, prior.dim
    regularizer = bind(regularizers.build("gan", hidden=hidden, layers=layers), dim=d, batch_size=n,
               prior=prior)  # fmt: skip
    linears = discriminator_linears(regularizer)
    widths = [d] + [hidden] * layers + [1]
    shapes = list(zip(widths[1:], widths[:-1], strict=True))  # (out, in) of each Linear
    assert [tuple(m.weight.shape) for m in linears] == shapes
    relus = [m for m in regularizer.discriminator.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == layers
    params = d * hidden + hidden + (layers - 1) * (hidden * hidden + hidden) + hidden + 1
    assert sum(p.numel() for p in regularizer.discriminator.parameters()) == params
    z = off_prior_codes(prior, n)
    with torch.no_grad():
        value = regularizer(z, None).item()
    # float64 forward with a componentwise bound on the float32 one: a layer of fan-in f adds
    # <= (f + 1) eps (|W| |h| + |b|) and passes on |W| err (ReLU is 1-Lipschitz)
    h, err = z.double(), torch.zeros_like(z, dtype=torch.float64)
    for i, m in enumerate(linears):
        w, b = m.weight.detach().double(), m.bias.detach().double()
        rounding = (w.shape[1] + 1) * EPS32 * ((h.abs() + err) @ w.abs().T + b.abs())
        h, err = h @ w.T + b, err @ w.abs().T + rounding
        if i < len(linears) - 1:
            h = h.clamp_min(0)
    expected = F.softplus(-h).mean().item()  # -log sigmoid, 1-Lipschitz
    tol = err.mean().item() + (n + 4) * EPS32 * expected
    assert value == pytest.approx(expected, abs=tol)


def test_gan_lr_sets_the_size_of_the_first_adam_step():
    """Adam's first step is theta <- theta - lr g / (|g| + 1e-8) (bias corrections cancel the
    moments' (1 - beta) factors): every weight whose gradient is not tiny moves by lr against
    its sign, and none by more than lr. The gradient is recomputed in float64 on a copy of D
    with the step's prior samples."""
    n, d = 32, 6
    prior = GaussianPrior(d)
    z = off_prior_codes(prior, n)
    moved = {}
    for lr in (1e-3, 3e-2):
        torch.manual_seed(0)
        regularizer = bind(regularizers.build("gan", hidden=16, layers=2, lr=lr), dim=d,
                           batch_size=n, prior=prior)  # fmt: skip
        before = copy.deepcopy(regularizer.discriminator).double()
        torch.manual_seed(SEED)
        with torch.no_grad():
            regularizer.after_step(z, None)
        torch.manual_seed(SEED)
        y = prior.sample(n).double()
        loss = F.softplus(-before(y)).mean() + F.softplus(before(z.double())).mean()
        loss.backward()
        big = total = 0
        pairs = zip(regularizer.discriminator.parameters(), before.parameters(), strict=True)
        for after, start in pairs:
            g, delta = start.grad, after.detach().double() - start.detach()
            # |g| >= 1e-3: g / (|g| + 1e-8) is sign(g) within 1e-5, and the float32 gradient
            # (errors ~ (fan-in + n) eps ~ 1e-5 of its O(1) terms) has g's sign. float32 adds
            # the rounding of theta + update (eps (|theta| + lr)) and of Adam's ~6 operations.
            sure = g.abs() >= 1e-3
            rounding = EPS32 * (start.detach().abs() + lr) + 6 * EPS32 * lr
            assert (delta[sure] + lr * g[sure].sign()).abs().le(1e-5 * lr + rounding[sure]).all()
            assert delta.abs().le(lr + rounding).all()  # no step is larger than lr
            big, total = big + int(sure.sum()), total + g.numel()
        assert big > total / 2  # most weights moved by lr (the rest: dead units, tiny g)
        moved[lr] = torch.cat([(p.detach() - q.detach().float()).flatten()
                               for p, q in zip(regularizer.discriminator.parameters(),
                                               before.parameters(), strict=True)])  # fmt: skip
    assert moved[3e-2].abs().max() > 10 * moved[1e-3].abs().max()


# ------------------------------------------------------------------------------------ cwae


def phi_reference(s, dim):
    """The paper's asymptotic phi_D(s) ~ (1 + 4 s / (2D - 3))^(-1/2)."""
    return (1 + 4 * s / (2 * dim - 3)) ** -0.5


def pair_sq(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def cw_reference(x, y, gamma):
    """log d^2: the closed form against N(0, I) when y is None, else the sample form (Knop et
    al., JMLR 2020), float64, with a tolerance for the float32 value.

    float32: squared distances by expansion off by <= (d + 3) eps 4 R^2, s = d^2 / 4gamma by
    that / 4gamma (+ eps s); phi moves by <= 2 / (2D - 3) per unit of s (+ 3 eps rounding); a
    mean of N terms <= 1 adds N eps. The means enter with weights c = 1 / (2 sqrt(pi gamma)) (1,
    1 and 2 for the sample form) and c2 = sqrt(2 / (pi (1 + 2 gamma))); relative to d^2 in the
    log."""
    x = x.double().numpy()
    n, dim = x.shape
    c = 1 / (2 * math.sqrt(math.pi * gamma))
    slope = 2 / (2 * dim - 3)
    radius2 = float((x**2).sum(1).max()) if y is None else max(
        float((x**2).sum(1).max()), float((y.double().numpy() ** 2).sum(1).max()))  # fmt: skip
    err_s = (dim + 3) * EPS32 * 4 * radius2 / (4 * gamma) + EPS32 * radius2 / gamma
    err_mean = slope * err_s + 3 * EPS32 + n * n * EPS32
    if y is None:
        c2 = math.sqrt(2 / (math.pi * (1 + 2 * gamma)))
        within = phi_reference(pair_sq(x, x) / (4 * gamma), dim).mean()
        cross = phi_reference((x**2).sum(1) / (2 + 4 * gamma), dim).mean()
        terms = [c * within, 1 / (2 * math.sqrt(math.pi * (1 + gamma))), c2 * cross]
        d2 = terms[0] + terms[1] - terms[2]
        err = c * err_mean + c2 * (slope * (dim + 2) * EPS32 * radius2 + (n + 3) * EPS32)
    else:
        y = y.double().numpy()
        means = [phi_reference(pair_sq(a, b) / (4 * gamma), dim).mean()
                 for a, b in ((x, x), (y, y), (x, y))]  # fmt: skip
        terms = [c * means[0], c * means[1], 2 * c * means[2]]
        d2 = terms[0] + terms[1] - terms[2]
        err = 4 * c * err_mean
    err += 8 * EPS32 * sum(terms)
    return math.log(d2), err / d2 + EPS32 * abs(math.log(d2))


# (prior, sigma^2 of one coordinate written out, whether the closed form applies)
CWAE_PRIORS = [(SpherePrior(8), 1 / 8, False), (GaussianPrior(8), 1.0, True),
               (GaussianPrior(8, 0.5), 0.25, False)]  # fmt: skip


@pytest.mark.parametrize(("prior", "variance", "closed"), CWAE_PRIORS,
                         ids=["sphere", "gaussian", "gaussian-s0.5"])  # fmt: skip
@pytest.mark.parametrize(("gamma", "n"), [(None, 8), (None, 24), (0.05, 16), (0.8, 16)])
def test_cwae_gamma_and_its_default_set_the_smoothing(gamma, n, prior, variance, closed):
    """log d^2 at gamma, or at Silverman's sigma^2 (4 / (3 n))^(2/5) for this batch size with
    the prior's per-coordinate variance; closed form for N(0, I) only, else prior samples."""
    regularizer = bind(regularizers.build("cwae", gamma=gamma), dim=prior.dim, batch_size=n,
               prior=prior)  # fmt: skip
    assert regularizer.closed_form == closed
    z = off_prior_codes(prior, n)
    value = seeded_value(regularizer, z)
    torch.manual_seed(SEED)
    y = None if closed else prior.sample(n)
    smoothing = gamma or variance * (4 / (3 * n)) ** 0.4
    expected, tol = cw_reference(z, y, smoothing)
    assert value == pytest.approx(expected, abs=tol)
    # guards: twice the smoothing, or (default) the rule with the other prior's variance
    assert abs(cw_reference(z, y, 2 * smoothing)[0] - expected) > GUARD * tol
    if gamma is None:
        wrong = 1 / prior.dim if variance != 1 / prior.dim else 1.0
        assert abs(cw_reference(z, y, wrong * (4 / (3 * n)) ** 0.4)[0] - expected) > GUARD * tol


# ------------------------------------------------------------------------------------ unif


def unif_reference(z, t):
    """log of the mean of exp(-t |z_i - z_j|^2) over ordered pairs i != j, float64."""
    z = z.double().numpy()
    n = len(z)
    d2 = pair_sq(z, z)[~np.eye(n, dtype=bool)]
    top = (-t * d2).max()
    return float(top + np.log(np.exp(-t * d2 - top).mean()))


@pytest.mark.parametrize("t", [0.5, 2.0, 8.0])
def test_unif_t_against_a_double_loop(t):
    n, d = 20, 5
    regularizer = bind(regularizers.build("unif", t=t), dim=d, batch_size=n)
    z = off_prior_codes(SpherePrior(d), n)
    value = seeded_value(regularizer, z, z)
    expected = unif_reference(z, t)
    # float32: squared distances of unit vectors by expansion off by <= (d + 3) eps 4, times t
    # in each exponent (+ its rounding); the log of a sum of n (n - 1) terms adds as many eps
    tol = t * (d + 4) * 4 * EPS32 + (n * n + 4) * EPS32 * (1 + abs(expected))
    assert value == pytest.approx(expected, abs=tol)
    assert abs(unif_reference(z, 2 * t) - expected) > GUARD * tol  # guard: t shows
