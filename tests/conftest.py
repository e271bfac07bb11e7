from contextlib import contextmanager

import pytest
import torch

import regularizers
from regularizers import TrainingPlan, base


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def bind(regularizer, encoder=None, dim=8, batch_size=16, total_steps=100, dataset_size=256,
         prior=None):
    """Bind ``regularizer`` to a small linear encoder (or the one given) and the sphere prior."""
    encoder = encoder or torch.nn.Linear(dim, dim)
    prior = prior or regularizers.SpherePrior(dim)
    regularizer.bind(encoder, prior, TrainingPlan(batch_size, total_steps, dataset_size))
    return regularizer


@contextmanager
def registered(*classes):
    """Register third-party regularizers for the duration of a test, then restore the registry."""
    saved = dict(base._REGISTRY)
    try:
        for cls in classes:
            regularizers.register(cls)
        yield
    finally:
        base._REGISTRY.clear()
        base._REGISTRY.update(saved)
