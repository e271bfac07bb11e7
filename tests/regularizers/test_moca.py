import itertools
import math

import pytest
import torch
from torch import nn

import regularizers
from regularizers.moca import contrastive_loss, momentum_at

from tests.conftest import bind


class NormalizedEncoder(nn.Module):
    """Linear -> BatchNorm -> ReLU -> Linear -> L2 normalize (exercises BN buffers)."""

    def __init__(self, dim=8):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, dim)
        )

    def forward(self, x):
        return nn.functional.normalize(self.net(x), dim=1)


def brute_force_contrastive(q, k, queue, tau):
    total = 0.0
    for i in range(len(q)):
        logits = [float(q[i] @ k[i]) / tau] + [float(q[i] @ n) / tau for n in queue]
        total += -logits[0] + math.log(sum(math.exp(v) for v in logits))
    return total / len(q)


def test_contrastive_loss_matches_brute_force():
    q, k, queue = (
        nn.functional.normalize(torch.randn(n, 5, dtype=torch.float64), dim=1) for n in (6, 6, 11)
    )
    value = contrastive_loss(q, k, queue, tau=0.3).item()
    # float64: 5-term logits (|logit| <= 3.4), log-sum-exp of 12, mean of 6; the terms add up to
    # 1.3x the loss: ~(5 + 12 + 6) eps64 * 3.4 * 1.3 = 1e-14; 1e-12 leaves 100x.
    assert value == pytest.approx(brute_force_contrastive(q, k, queue, 0.3), rel=1e-12)


def test_gradients_reach_the_encoder_but_not_the_key_encoder():
    encoder = NormalizedEncoder()
    regularizer = bind(regularizers.build("moca", K=64), encoder=encoder, batch_size=16)
    x = torch.randn(16, 8)
    regularizer(encoder(x), x).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())
    assert all(p.grad is None and not p.requires_grad for p in regularizer.key_encoder.parameters())


def test_queue_is_fifo_and_wraps_around():
    encoder = NormalizedEncoder()
    regularizer = bind(regularizers.build("moca", K=40), encoder=encoder, batch_size=16)
    initial = regularizer.queue.clone()
    batches = [torch.randn(16, 8) for _ in range(3)]
    keys = []
    for x in batches:
        regularizer(encoder(x), x)
        keys.append(regularizer._keys.clone())
        regularizer.after_step(None, x)
    # 48 keys into 40 slots: the first 8 slots hold the newest keys, then batches 1 and 2.
    torch.testing.assert_close(regularizer.queue[:8], keys[2][8:])
    torch.testing.assert_close(regularizer.queue[16:32], keys[1])
    torch.testing.assert_close(regularizer.queue[32:40], keys[2][:8])
    torch.testing.assert_close(regularizer.queue[8:16], keys[0][8:])
    assert not torch.equal(regularizer.queue, initial)
    assert int(regularizer.queue_ptr) == 48 % 40


def test_queue_starts_as_random_unit_vectors():
    regularizer = bind(regularizers.build("moca", K=500), batch_size=16)
    torch.testing.assert_close(regularizer.queue.norm(dim=1), torch.ones(500))
    assert regularizer.queue.mean(0).abs().max() < 0.15


def test_momentum_schedule_goes_from_m_to_one():
    values = [float(momentum_at(t, 100, 0.99)) for t in range(101)]
    assert values[0] == pytest.approx(0.99)
    assert values[50] == pytest.approx(0.995)
    assert values[100] == pytest.approx(1.0)
    assert all(b >= a for a, b in itertools.pairwise(values))


def test_key_encoder_follows_ema_of_parameters_and_batchnorm_buffers():
    encoder = NormalizedEncoder()
    regularizer = bind(
        regularizers.build("moca", K=64, m=0.9), encoder=encoder, batch_size=16, total_steps=10
    )
    key_before = {k: v.clone() for k, v in regularizer.key_encoder.state_dict().items()}
    x = torch.randn(16, 8)
    regularizer(encoder(x), x)  # the key encoder's own forward must not move its BN statistics
    with torch.no_grad():  # move the query encoder away from the key encoder
        for p in encoder.parameters():
            p.add_(1.0)
        encoder.train()(torch.randn(16, 8) * 3 + 2)  # update BN running statistics
    regularizer.after_step(None, x)
    query = encoder.state_dict()
    for name, value in regularizer.key_encoder.state_dict().items():
        if value.is_floating_point():
            expected = 0.9 * key_before[name] + 0.1 * query[name]
            torch.testing.assert_close(value, expected, msg=name)
        else:
            assert torch.equal(value, query[name]), name
    assert int(regularizer.step) == 1


def test_state_dict_round_trip_restores_queue_and_key_encoder():
    encoder = NormalizedEncoder()
    regularizer = bind(regularizers.build("moca", K=32), encoder=encoder, batch_size=16)
    x = torch.randn(16, 8)
    regularizer(encoder(x), x)
    regularizer.after_step(None, x)
    other = bind(regularizers.build("moca", K=32), encoder=NormalizedEncoder(), batch_size=16)
    other.load_state_dict(regularizer.state_dict())
    pairs = zip(regularizer.state_dict().items(), other.state_dict().values(), strict=True)
    for (name, a), b in pairs:
        assert torch.equal(a, b), name


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"tau": 0}, "moca.tau must be a finite number > 0, got 0"),
        ({"tau": -1.0}, "moca.tau must be a finite number > 0"),
        ({"tau": float("nan")}, "moca.tau must be a finite number > 0"),
        ({"m": 1.0}, r"moca.m must be a number in \[0, 1\)"),
        ({"K": 0}, "moca.K must be an integer > 0"),
        ({"K": 2.5}, "moca.K must be an integer > 0"),
    ],
)
def test_moca_rejects_bad_hyperparameters(kw, message):
    with pytest.raises(ValueError, match=message):
        regularizers.build("moca", **kw)


def test_moca_rejects_queue_smaller_than_batch():
    with pytest.raises(ValueError, match="at least the batch size 64, got 32"):
        bind(regularizers.build("moca", K=32), batch_size=64)


def test_moca_default_queue_is_dataset_size_capped_at_16384():
    assert bind(regularizers.build("moca"), dataset_size=1000).queue_size == 1000
    assert bind(regularizers.build("moca"), dataset_size=50000).queue_size == 16384


def test_moca_needs_the_sphere_prior():
    with pytest.raises(ValueError, match="sphere prior"):
        bind(regularizers.build("moca"), prior=regularizers.GaussianPrior(8))
