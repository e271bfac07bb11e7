import pytest
import torch

import regularizers
from regularizers import GaussianPrior

from tests.conftest import bind


def test_discriminator_learns_to_separate_two_separated_clouds():
    regularizer = bind(regularizers.build("gan", hidden=64, layers=2, lr=1e-3),
                       prior=GaussianPrior(8))  # fmt: skip
    codes = torch.randn(128, 8) * 0.3 + 2.0  # far from the N(0, I) prior
    for _ in range(100):
        regularizer.after_step(codes, None)
    with torch.no_grad():
        on_prior = torch.sigmoid(regularizer.discriminator(GaussianPrior(8).sample(1000)))
        on_codes = torch.sigmoid(regularizer.discriminator(torch.randn(1000, 8) * 0.3 + 2.0))
    accuracy = ((on_prior > 0.5).float().mean() + (on_codes < 0.5).float().mean()) / 2
    assert accuracy > 0.95


def test_generator_penalty_is_minus_log_d_and_pushes_codes_toward_prior():
    regularizer = bind(regularizers.build("gan", hidden=32, layers=2), prior=GaussianPrior(8))
    codes = torch.randn(64, 8) * 0.3 + 2.0
    for _ in range(100):
        regularizer.after_step(codes, None)
    z = codes.clone().requires_grad_()
    penalty = regularizer(z, None)
    expected = -torch.log(torch.sigmoid(regularizer.discriminator(codes))).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)
    penalty.backward()
    # a gradient step on the codes moves them toward the prior mean (0)
    assert ((z - 0.1 * z.grad).norm(dim=1) < z.norm(dim=1)).float().mean() > 0.9


def test_discriminator_optimizer_state_is_checkpointed():
    regularizer = bind(regularizers.build("gan", hidden=16, layers=1))
    regularizer.after_step(torch.randn(16, 8), None)
    state = regularizer.state_dict()
    other = bind(regularizers.build("gan", hidden=16, layers=1))
    other.load_state_dict(state)
    assert other.optimizer.steps.item() == 1
    for mine, theirs in zip(other.optimizer.exp_avg, regularizer.optimizer.exp_avg, strict=True):
        assert torch.equal(mine, theirs) and mine.abs().sum() > 0


def test_gan_rejects_bad_hyperparameters():
    with pytest.raises(ValueError, match="gan.lr must be a finite number > 0"):
        regularizers.build("gan", lr=-1)
