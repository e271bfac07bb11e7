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
    method: str | Regularizer, params: dict, *, encoder: nn.Module, prior: Prior,
    plan: TrainingPlan,
) -> Regularizer:
    """A regularizer built from ``params`` (or the unbound instance ``method``) and bound to
    this run's encoder, prior and plan."""
    regularizer = method if isinstance(method, Regularizer) else build(method, params)
    try:
        regularizer.bind(encoder, prior, plan)
    except (ValueError, TypeError) as err:
        raise _usage(regularizer.name, err) from None
    return regularizer


def color_index(method: str, fallback: int) -> int:
    """A registered method's place in the registry, the index of its color in every figure
    and page (so a method has one color whichever methods are shown); ``fallback`` for other
    names (library references in the timing figures)."""
    known = regularizers.available()
    return known.index(method) if method in known else fallback


def catalog() -> str:
    """What `wae-bench methods` prints: every registered method (built-in and plug-in) with
    its summary, paper, hyper-parameters and defaults, prior assumption, smallest batch and
    whether its training step can be captured as a CUDA graph."""
    blocks = []
    for name in regularizers.available():
        cls = regularizers.get(name)
        defaults = regularizers.hyperparameter_defaults(cls)
        try:  # an instance knows best (sinkhorn's capture depends on its backend)
            capturable = regularizers.build(name).capturable
        except (TypeError, ValueError):  # a plug-in without defaults for every argument
            capturable = cls.capturable
        summary = (cls.__doc__ or "").strip().splitlines()
        blocks.append("\n".join([
            f"{name}: {summary[0] if summary else cls.__name__} ({cls.__module__})",
            f"  paper: {cls.paper or 'not stated'}",
            "  hyper-parameters: "
            + (", ".join(f"{k}={v!r}" for k, v in defaults.items()) or "none"),
            f"  prior: {cls.prior_assumption or 'not stated'}",
            f"  batch size: at least {cls.min_batch_size}",
            f"  capturable on CUDA: {'yes' if capturable else 'no (trains eagerly)'}",
            "  search space (wae-bench tune): "
            + (", ".join(f"{k} {d.describe()}" for k, d in cls.search_space.items()) or "none"),
        ]))  # fmt: skip
    return "\n\n".join(blocks)
