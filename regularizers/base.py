"""The Regularizer seam and the registry of methods.

A regularizer estimates a divergence D(Q_Z, P_Z) between the codes of a batch and the prior.
The trainer treats every method the same way::

    reg.bind(encoder, prior, plan)            # once, before training
    loss = recon + lam * reg(z, x)            # z = encoder(x)
    loss.backward(); opt.step()
    reg.after_step(z.detach(), x)             # EMA + queue (MoCA), critic step (GAN), ...

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


@dataclass(frozen=True)
class TrainingPlan:
    """What a regularizer may need to know about the training run it joins."""

    batch_size: int
    total_steps: int
    dataset_size: int


class Regularizer(nn.Module):
    """Base class: subclasses set ``name`` and implement ``forward``.

    Constructor arguments are the method's hyper-parameters; each subclass keeps them as
    attributes of the same name, validated in ``__init__`` with a ``ValueError``.
    """

    name: ClassVar[str] = ""

    def bind(self, encoder: nn.Module, prior: Prior, plan: TrainingPlan) -> None:
        """Attach to a run; raise ValueError when the plan does not suit the method."""
        self.prior = prior
        self.plan = plan

    def forward(self, z: Tensor, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        """The penalty for a batch of codes z = encoder(x): a differentiable scalar."""
        raise NotImplementedError

    @torch.no_grad()
    def after_step(self, z: Tensor, x: Tensor) -> None:
        """Called after each optimizer step of the encoder; most methods need nothing."""

    def hparams(self) -> dict:
        """The method's hyper-parameters (constructor arguments) and their current values."""
        return {name: getattr(self, name) for name in hyperparameter_defaults(type(self))}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.hparams().items())


_REGISTRY: dict[str, type[Regularizer]] = {}
_entry_points_loaded = False


def register(cls: type[Regularizer]) -> type[Regularizer]:
    """Class decorator adding a Regularizer subclass to the registry under ``cls.name``."""
    if not (isinstance(cls, type) and issubclass(cls, Regularizer)):
        raise TypeError(f"{cls!r} is not a Regularizer subclass")
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a class attribute `name` to be registered")
    _REGISTRY[cls.name] = cls
    return cls


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
    """Names of every registered regularizer, built-in and plug-in, sorted."""
    _load_entry_points()
    return sorted(_REGISTRY)


def get(name: str) -> type[Regularizer]:
    """The class registered as ``name``; unknown names fail with the list of known ones."""
    _load_entry_points()
    if name not in _REGISTRY:
        raise ValueError(f"unknown regularizer {name!r}; known: {', '.join(available())}")
    return _REGISTRY[name]


def build(name: str, **hparams) -> Regularizer:
    """Instantiate the regularizer ``name``; unknown hyper-parameters fail with the known ones."""
    cls = get(name)
    known = hyperparameter_defaults(cls)
    unknown = sorted(set(hparams) - set(known))
    if unknown:
        raise ValueError(
            f"{name} has no hyper-parameter {', '.join(unknown)}; known: {', '.join(known)}"
        )
    return cls(**hparams)


def hyperparameter_defaults(cls: type[Regularizer]) -> dict:
    """Constructor arguments of ``cls`` and their defaults, in signature order."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return {
        p.name: p.default for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
