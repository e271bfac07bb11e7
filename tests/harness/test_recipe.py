"""recipe.assemble: the one build -> bind -> step recipe every run, test and benchmark uses."""

import pytest
import torch

import regularizers
from regularizers import SpherePrior, TrainingPlan
from wae_bench import recipe
from wae_bench.errors import UsageError
from wae_bench.models import MLPEncoder, build_autoencoder
from wae_bench.step import TrainingStep, per_image_squared_error

PLAN = TrainingPlan(batch_size=16, total_steps=100, dataset_size=64)


def test_the_step_minimizes_recon_plus_lam_times_the_bound_regularizer():
    torch.manual_seed(0)
    encoder, decoder = build_autoencoder("conv", 1, 16, 8)
    made = recipe.assemble({"encoder": encoder, "decoder": decoder}, "mmd", {}, lam=10.0, lr=0.5,
                           prior=SpherePrior(8), plan=PLAN)  # fmt: skip
    assert isinstance(made.step, TrainingStep)  # eager on the CPU, graphs or not
    assert (made.step.encoder, made.step.decoder, made.step.lam) == (encoder, decoder, 10.0)
    params = {id(p) for m in (encoder, decoder) for p in m.parameters()}
    assert {id(p) for p in made.optimizer.params} == params and float(made.optimizer.lr) == 0.5
    x = torch.rand(16, 1, 16, 16)
    torch.manual_seed(1)  # the same prior samples for MMD below and in the step
    with torch.no_grad():
        z = encoder(x)
        expected = per_image_squared_error(x, decoder(z)) + 10.0 * made.regularizer(z, x)
    torch.manual_seed(1)
    # the same float32 operations in the same order: equal up to rounding
    assert float(made.step(x)) == pytest.approx(float(expected), rel=1e-6)


def test_a_latent_step_is_the_regularizer_alone_and_its_parameters_move():
    torch.manual_seed(0)
    encoder = MLPEncoder(10, 16, 4)
    made = recipe.assemble({"encoder": encoder}, "swd", {"L": 8}, prior=SpherePrior(4),
                           plan=PLAN, lr=1e-2)  # fmt: skip
    assert made.regularizer.resolved()["L"] == 8
    before = [p.detach().clone() for p in encoder.parameters()]
    made.step(torch.randn(16, 10))
    assert all(not torch.equal(a, b) for a, b in zip(before, encoder.parameters(), strict=True))


def test_an_unbound_instance_is_bound_as_a_name_is():
    encoder = MLPEncoder(10, 16, 4)
    regularizer = regularizers.build("moca", K=32)
    made = recipe.assemble({"encoder": encoder}, regularizer, prior=SpherePrior(4), plan=PLAN)
    assert made.regularizer is regularizer and regularizer.queue_size == 32


@pytest.mark.parametrize("method", ["moca", "instance"])
def test_a_bad_hyper_parameter_is_one_usage_error_naming_the_fix(method):
    """A queue smaller than the batch, given by name and K or as an unbound instance."""
    given = regularizers.build("moca", K=8) if method == "instance" else "moca"
    with pytest.raises(UsageError, match=r"moca: .*--set moca.PARAM=VALUE"):
        recipe.assemble({"encoder": MLPEncoder(10, 16, 4)}, given, {"K": 8},
                        prior=SpherePrior(4), plan=PLAN)  # fmt: skip
