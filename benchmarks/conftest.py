import pytest
import torch

import regularizers
from regularizers import TrainingPlan
from wae_bench.models import MLPEncoder

DATA_DIM, LATENT_DIM = 100, 128


@pytest.fixture
def make_inputs():
    """(bound regularizer, codes z with grad, data x) for a batch of size B at d = 128."""

    def make(method: str, batch: int, **hparams):
        torch.manual_seed(0)
        encoder = MLPEncoder(DATA_DIM, 256, LATENT_DIM)
        reg = regularizers.build(method, **hparams)
        plan = TrainingPlan(batch_size=batch, total_steps=10**6, dataset_size=10**6)
        reg.bind(encoder, regularizers.SpherePrior(LATENT_DIM), plan)
        x = torch.randn(batch, DATA_DIM)
        z = torch.nn.functional.normalize(torch.randn(batch, LATENT_DIM), dim=1)
        return reg, z.requires_grad_(), x

    return make
