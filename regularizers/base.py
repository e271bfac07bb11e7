"""The Regularizer seam and the registry of methods.

A regularizer estimates a divergence D(Q_Z, P_Z) between the codes of a batch and the prior.
The trainer treats every method the same way::

    regularizer.bind(encoder, prior, plan)    # once, before training
    loss = recon + lam * regularizer(z, x)    # z = encoder(x)
    loss.backward(); opt.step()
    regularizer.after_step(z.detach(), x)     # EMA + queue (MoCA), critic step (GAN), ...

State a method owns (momentum encoder, queue, discriminator, its optimizer) lives in the
module, so ``state_dict()`` checkpoints it. Third-party methods subclass ``Regularizer`` and
either call ``register`` or declare an entry point in the group ``wae_bench.regularizers``.
"""

import inspect
import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import ClassVar

import torch
from torch import Tensor, nn

from .priors import Prior

ENTRY_POINT_GROUP = "wae_bench.regularizers"


def network_autocast(device_type: str, dtype: torch.dtype | None) -> torch.autocast:
    """Autocast to ``dtype`` on ``device_type`` (off when None), without the cast cache: a
    step captured as a CUDA graph must not keep casts from one replay to the next."""
    return torch.autocast(device_type, dtype=dtype, enabled=dtype is not None,
                          cache_enabled=False)  # fmt: skip


@dataclass(frozen=True)
class TrainingPlan:
    """What a regularizer may need to know about the training run it joins.

    >>> TrainingPlan(batch_size=64, total_steps=80 * 16, dataset_size=1000).total_steps
    1280
    """

    batch_size: int
    total_steps: int
    dataset_size: int


class Regularizer(nn.Module):
    """Base class: subclasses set ``name`` and implement ``forward``.

    Constructor arguments are the method's hyper-parameters; each subclass keeps them as
    attributes of the same name, validated in ``__init__`` with a ``ValueError``.

    >>> import torch, regularizers
    >>> from regularizers import SpherePrior, TrainingPlan
    >>> _ = torch.manual_seed(0)
    >>> encoder = torch.nn.Sequential(torch.nn.Linear(10, 8))
    >>> regularizer = regularizers.build("moca", tau=0.2)
    >>> plan = TrainingPlan(batch_size=4, total_steps=10, dataset_size=32)
    >>> regularizer.bind(encoder, SpherePrior(8), plan)
    >>> x = torch.randn(4, 10)
    >>> z = torch.nn.functional.normalize(encoder(x), dim=1)
    >>> loss = regularizer(z, x)
    >>> loss.backward()
    >>> with torch.no_grad():
    ...     regularizer.after_step(z.detach(), x)
    >>> regularizer.resolved()
    {'tau': 0.2, 'K': 32, 'm': 0.99}
    """

    name: ClassVar[str] = ""
    # True when forward and after_step never read the host (no .item(), float(), bool() of
    # a tensor, no data-dependent shapes) and keep what lasts between steps in tensors
    # updated in place: then the trainer may capture the step as a CUDA graph. Methods
    # that leave it False train eagerly.
    capturable: ClassVar[bool] = False
    # How `wae-bench tune` may vary the hyper-parameters: {name: search.Range | search.Choice}
    # (regularizers/search.py). A hyper-parameter left out is held at its value when tuning.
    search_space: ClassVar[dict] = {}
    # The autocast dtype the trainer runs the networks in (None: float32); set by the
    # trainer. A method that runs a network itself (MoCA's key encoder) runs it under
    # ``self.network_autocast(x)``; its own arithmetic and its state stay float32.
    amp_dtype: torch.dtype | None = None
    # The smallest batch the estimator is defined for (2 for one that averages over pairs of
    # distinct codes, e.g. an unbiased MMD); ``bind`` refuses a smaller batch size.
    min_batch_size: ClassVar[int] = 1
    # What `wae-bench methods` shows: the method's paper and what it assumes of the prior.
    paper: ClassVar[str] = ""
    prior_assumption: ClassVar[str] = ""

    def bind(self, encoder: nn.Module, prior: Prior, plan: TrainingPlan) -> None:
        """Attach to a run before training; raise ValueError when the run does not suit the
        method (e.g. MoCA with a queue smaller than the batch, or a non-spherical prior)."""
        if plan.batch_size < self.min_batch_size:
            raise ValueError(
                f"{self.name} needs a batch size of at least {self.min_batch_size}, "
                f"got {plan.batch_size}; raise the batch size"
            )
        self.prior = prior
        self.plan = plan

    def network_autocast(self, x: Tensor) -> torch.autocast:
        """The autocast the trainer runs the networks under, for a batch ``x``."""
        return network_autocast(x.device.type, self.amp_dtype)

    def forward(self, z: Tensor, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        """The penalty for a batch of codes z = encoder(x): a differentiable scalar."""
        raise NotImplementedError

    def after_step(self, z: Tensor, x: Tensor) -> None:
        """Called after each optimizer step of the encoder; most methods need nothing.

        The trainer calls it under ``torch.no_grad()`` with the detached codes of the step; a
        method that trains a module of its own here (the GAN's critic) enables gradients
        itself with ``torch.enable_grad()``.
        """

    def hparams(self) -> dict:
        """The method's hyper-parameters as the user set them (constructor arguments).

        >>> import regularizers
        >>> regularizers.build("swd", L=7).hparams()
        {'L': 7, 'p': 2.0}
        """
        return {name: getattr(self, name) for name in hyperparameter_defaults(type(self))}

    def resolved(self) -> dict:
        """``hparams`` with what ``bind`` resolved filled in (e.g. MoCA's queue size)."""
        return self.hparams()

    def extra_repr(self) -> str:
        """The hyper-parameters as ``name=value`` pairs, for the module's repr."""
        return ", ".join(f"{k}={v!r}" for k, v in self.hparams().items())


_REGISTRY: dict[str, type[Regularizer]] = {}
_entry_points_loaded = False


def register(cls=None, *, replace: bool = False):
    """Class decorator adding a Regularizer subclass to the registry under ``cls.name``.

    A name that is already registered is refused unless ``replace=True`` is given, so a
    plug-in cannot silently shadow a built-in method.

    >>> import regularizers
    >>> @regularizers.register
    ... class Zero(regularizers.Regularizer):
    ...     name = "zero-doctest"
    ...     def forward(self, z, x):
    ...         return z.sum() * 0.0
    >>> "zero-doctest" in regularizers.available()
    True
    >>> class Other(Zero):
    ...     pass
    >>> regularizers.register(Other)
    Traceback (most recent call last):
    ...
    ValueError: a regularizer named 'zero-doctest' is registered already (Zero); pass ...
    >>> _ = regularizers.register(Other, replace=True)
    >>> regularizers.unregister("zero-doctest")
    """
    if cls is None:
        return lambda c: register(c, replace=replace)
    if not (isinstance(cls, type) and issubclass(cls, Regularizer)):
        raise TypeError(f"{cls!r} is not a Regularizer subclass")
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a class attribute `name` to be registered")
    current = _REGISTRY.get(cls.name)
    if current is not None and current is not cls and not replace:
        raise ValueError(
            f"a regularizer named {cls.name!r} is registered already ({current.__name__}); "
            "pass replace=True to replace it"
        )
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (e.g. at the end of a plug-in's test)."""
    _REGISTRY.pop(name, None)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            register(ep.load())
        except Exception as err:  # a broken plugin must not break the built-in methods
            warnings.warn(
                f"skipping regularizer plugin {ep.name!r} ({ep.value}): {err}", stacklevel=2
            )


def available() -> list[str]:
    """Names of every registered regularizer, built-in and plug-in, sorted.

    >>> import regularizers
    >>> {"moca", "mmd", "swd", "sinkhorn", "gan"} <= set(regularizers.available())
    True
    """
    _load_entry_points()
    return sorted(_REGISTRY)


def get(name: str) -> type[Regularizer]:
    """The class registered as ``name``; unknown names fail with the list of known ones.

    >>> import regularizers
    >>> regularizers.get("mmd").__name__
    'MMD'
    """
    _load_entry_points()
    if name not in _REGISTRY:
        raise ValueError(f"unknown regularizer {name!r}; known: {', '.join(available())}")
    return _REGISTRY[name]


def build(name: str, **hparams) -> Regularizer:
    """Instantiate the regularizer ``name``; unknown hyper-parameters fail with the known ones.

    >>> import regularizers
    >>> regularizers.build("swd", L=100)
    SlicedWasserstein(L=100, p=2.0)
    >>> regularizers.build("swd", sigma=1)
    Traceback (most recent call last):
    ...
    ValueError: swd has no hyper-parameter 'sigma'; known: L, p
    """
    cls = get(name)
    known = hyperparameter_defaults(cls)
    unknown = sorted(set(hparams) - set(known))
    if unknown:
        raise ValueError(
            f"{name} has no hyper-parameter {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(known)}"
        )
    return cls(**hparams)


def hyperparameter_defaults(cls: type[Regularizer]) -> dict:
    """Constructor arguments of ``cls`` and their defaults, in signature order.

    >>> import regularizers
    >>> regularizers.hyperparameter_defaults(regularizers.get("moca"))
    {'tau': 0.1, 'K': None, 'm': 0.99}
    """
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return {
        p.name: p.default for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
