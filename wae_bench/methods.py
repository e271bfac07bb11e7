"""The one way the harness builds and binds a regularizer.

A method's hyper-parameters are checked by the method itself (its constructor, its
``bind``); this module turns their ``ValueError`` into the one-line ``UsageError`` that
every command reports the same way.
"""

from torch import nn

import regularizers
from regularizers import Prior, Regularizer, TrainingPlan

from .errors import UsageError


def _usage(method: str, err: Exception) -> UsageError:
    return UsageError(f"{method}: {err} (set with --set {method}.PARAM=VALUE)")


def build(method: str, params: dict) -> Regularizer:
    """``regularizers.build(method, **params)``; bad names or values are bad input."""
    try:
        return regularizers.build(method, **params)
    except (ValueError, TypeError) as err:
        raise _usage(method, err) from None


def bind(
    method: str, params: dict, *, encoder: nn.Module, prior: Prior, plan: TrainingPlan
) -> Regularizer:
    """A regularizer built from ``params`` and bound to this run's encoder, prior and plan."""
    reg = build(method, params)
    try:
        reg.bind(encoder, prior, plan)
    except (ValueError, TypeError) as err:
        raise _usage(method, err) from None
    return reg
