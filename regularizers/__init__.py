"""Pluggable latent regularizers for Wasserstein autoencoders.

>>> import regularizers
>>> regularizers.available()
['cwae', 'energy', 'gan', 'mmd', 'moca', 'sinkhorn', 'ssw', 'swd', 'unif']
>>> regularizers.build("moca", tau=0.2)
MoCA(tau=0.2, K=None, m=0.99)
"""

from . import cwae, energy, gan, mmd, moca, sinkhorn, ssw, swd, unif  # noqa: F401  (built-ins)
from .base import (
    ENTRY_POINT_GROUP,
    Regularizer,
    TrainingPlan,
    available,
    build,
    get,
    hyperparameter_defaults,
    register,
    unregister,
)
from .priors import GaussianPrior, Prior, SpherePrior, build_prior

__all__ = [
    "ENTRY_POINT_GROUP",
    "GaussianPrior",
    "Prior",
    "Regularizer",
    "SpherePrior",
    "TrainingPlan",
    "available",
    "build",
    "build_prior",
    "get",
    "hyperparameter_defaults",
    "register",
    "unregister",
]
