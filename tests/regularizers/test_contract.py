"""The contract every registered regularizer keeps, built-in methods and a plug-in alike.

The methods come from ``regularizers.available()`` (nothing here names one), plus a plug-in
registered by this test: finite value and gradient at every batch size >= 2, lower against
prior samples than against a shifted or a collapsed set, the same value for the same seed, a
state_dict round trip that resumes training exactly, no host read in the step of a method
that declares ``capturable``, and every refusal of ``bind`` a one-line error naming the
method (a situation it does not refuse, it must handle: a finite value).
"""

import io

import pytest
import torch
from torch import nn

import regularizers
from regularizers import GaussianPrior, Regularizer, SpherePrior, TrainingPlan
from wae_bench import methods
from wae_bench.errors import UsageError
from wae_bench.models.common import SphereProjection
from wae_bench.recipe import assemble
from wae_bench.step import load_training_state, training_state

from tests.conftest import registered
from tests.helpers.steps import HostReadSpy, latent_step

DIM = 8


class MeanMatching(Regularizer):
    """A plug-in: squared distance between the mean code and the mean of as many prior
    samples."""

    name = "plugin-mean-matching"
    capturable = True

    def forward(self, z, x):
        y = self.prior.sample(len(z), device=z.device)
        return (z.mean(0) - y.mean(0)).pow(2).sum()


METHODS = [*regularizers.available(), MeanMatching.name]


@pytest.fixture(params=METHODS)
def method(request):
    with registered(MeanMatching):
        yield request.param


def sphere_encoder(dim: int = DIM) -> nn.Module:
    """z = normalize(W x) with W = I at the start: the codes are the inputs, on the sphere."""
    linear = nn.Linear(dim, dim, bias=False)
    nn.init.eye_(linear.weight)
    return nn.Sequential(linear, SphereProjection())


def bound(method, batch, *, dataset=256, prior=None, dim=DIM):
    """(encoder, regularizer bound to it) through the harness's one binding helper."""
    encoder = sphere_encoder(dim)
    plan = TrainingPlan(batch_size=batch, total_steps=100, dataset_size=dataset)
    regularizer = methods.bind(method, {}, encoder=encoder, prior=prior or SpherePrior(dim),
                               plan=plan)  # fmt: skip
    return encoder, regularizer


@pytest.mark.parametrize("batch", [2, 3, 5, 64])
def test_finite_value_and_gradient_at_every_batch_size_from_two(method, batch):
    encoder, regularizer = bound(method, batch)
    x = torch.randn(batch, DIM)
    loss = regularizer(encoder(x), x)
    loss.backward()
    assert loss.shape == () and torch.isfinite(loss)
    for p in encoder.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def prior_set(n=128):
    return SpherePrior(DIM).sample(n, generator=torch.Generator().manual_seed(11))


BAD_SETS = {  # sets of codes on the sphere that are not uniform
    "shifted": lambda y: nn.functional.normalize(y + 1.5 * torch.eye(DIM)[0], dim=1),
    "collapsed": lambda y: nn.functional.normalize(0.05 * y + torch.eye(DIM)[0], dim=1),
}


def settled_value(method, codes, steps=5):
    """The penalty of ``codes`` after ``steps`` calls of forward and after_step on them (a
    queue filled with their keys, a critic trained on them), with fixed random draws."""
    torch.manual_seed(0)
    encoder, regularizer = bound(method, len(codes), dataset=len(codes))
    for _ in range(steps):
        z = encoder(codes)
        regularizer(z, codes)
        with torch.no_grad():
            regularizer.after_step(z.detach(), codes)
    torch.manual_seed(1)
    with torch.no_grad():
        return regularizer(encoder(codes), codes).item()


@pytest.mark.parametrize("bad", list(BAD_SETS))
def test_prior_samples_score_lower_than_a_shifted_or_collapsed_set(method, bad):
    y = prior_set()
    assert settled_value(method, y) < settled_value(method, BAD_SETS[bad](y))


def test_same_seed_same_value(method):
    values = []
    for _ in range(2):
        torch.manual_seed(7)
        encoder, regularizer = bound(method, 32)
        x = torch.randn(32, DIM)
        values.append(regularizer(encoder(x), x).detach())
    assert torch.equal(values[0], values[1])


def test_state_dict_round_trip_resumes_training_exactly(method):
    """Train 3 steps, checkpoint as a training run does (through a file's bytes), train 3 more;
    a fresh run bound under another seed and loaded from the checkpoint trains the same 3."""
    data = torch.randn(6, 32, DIM)

    def new_run(seed):
        torch.manual_seed(seed)
        run = assemble({"encoder": sphere_encoder()}, method, prior=SpherePrior(DIM),
                       plan=TrainingPlan(batch_size=32, total_steps=100, dataset_size=192),
                       lr=1e-2)  # fmt: skip
        return run.step, {**run.models, "regularizer": run.regularizer}

    step, modules = new_run(0)
    batch_rng = torch.Generator()
    for x in data[:3]:
        step(x)
    checkpoint = io.BytesIO()
    torch.save(training_state(modules, step.optimizer, batch_rng), checkpoint)
    expected = torch.stack([step(x) for x in data[3:]])

    resumed, resumed_modules = new_run(1)
    checkpoint.seek(0)
    state = torch.load(checkpoint, weights_only=False)
    load_training_state(state, resumed_modules, resumed.optimizer, batch_rng)
    assert torch.equal(torch.stack([resumed(x) for x in data[3:]]), expected)


def test_a_capturable_step_makes_no_host_read(method):
    step = latent_step(method)
    if not step.regularizer.capturable:
        pytest.skip(f"{method} does not declare capturable: it trains eagerly")
    x = torch.randn(64, 100)
    step(x)  # the first step may initialize lazily
    with HostReadSpy() as spy:
        step(x)
    assert spy.reads == []


SITUATIONS = {  # what bind may refuse: (batch size, prior, latent dimension)
    "batch size 1": (1, SpherePrior(DIM), DIM),
    "a Gaussian prior": (16, GaussianPrior(DIM), DIM),
    "latent dimension 1": (16, SpherePrior(1), 1),
}


@pytest.mark.parametrize("situation", list(SITUATIONS))
def test_bind_refuses_in_one_line_or_handles_it(method, situation):
    batch, prior, dim = SITUATIONS[situation]
    try:
        encoder, regularizer = bound(method, batch, prior=prior, dim=dim)
    except UsageError as err:
        message = str(err)
        assert "\n" not in message
        assert message.startswith(f"{method}: {method}")  # the harness's and the method's own
        return
    x = torch.randn(batch, dim)
    assert torch.isfinite(regularizer(encoder(x), x))
