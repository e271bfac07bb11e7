"""What a training step may change, saved before an attempt and put back when it fails.

Recording a step as a CUDA graph can fail half-way for many reasons (an op that cannot be
captured, a library that raises). The eager steps that follow must find the run exactly as
it was, or the fallback would train something else:

* grad mode: geomloss turns gradients off and back on without ``try``/``finally``, so an
  exception inside its solver leaves them off;
* the current CUDA stream: a failed ``capture_end`` leaves the capture stream set;
* the random state, CPU and CUDA generators (a step draws prior samples and directions);
* the tensors of the modules and optimizers (parameters, buffers, Adam's moments, step
  count and learning rate, MoCA's queue), their gradients, and the Python attributes of
  these objects (e.g. MoCA's keys of the step in progress, a plug-in's counter).
"""

from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor, nn

T = TypeVar("T")


def step_objects(step) -> list:
    """The modules of a ``TrainingStep`` (every submodule) and the optimizers it or its
    modules hold (the trainer's Adam, the GAN critic's), each once."""
    modules = [m for m in (step.encoder, step.decoder, step.regularizer) if m is not None]
    objects = {id(m): m for root in modules for m in root.modules()}
    for owner in [step, *objects.values()]:
        for value in vars(owner).values():
            if not isinstance(value, nn.Module) and callable(getattr(value, "zero_grad", None)):
                objects.setdefault(id(value), value)  # an optimizer
    return list(objects.values())


def _tensors(value) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, list | tuple):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


class StepSnapshot:
    """Grad mode, CUDA stream, RNG states and the state of ``objects``, as they are now."""

    def __init__(self, objects: list):
        self.grad_enabled = torch.is_grad_enabled()
        self.cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
        self.stream = torch.cuda.current_stream() if self.cuda else None
        self.cpu_rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state_all() if self.cuda else None
        self.attributes = [(obj, dict(vars(obj))) for obj in objects]
        tensors = {id(t): t for obj in objects for t in _tensors(vars(obj))}
        with torch.no_grad():
            self.values = [(t, t.detach().clone()) for t in tensors.values()]
        self.grads = [(t, t.grad) for t in tensors.values() if isinstance(t, nn.Parameter)]

    def restore(self) -> None:
        """Put everything back as it was when the snapshot was taken."""
        torch.set_grad_enabled(self.grad_enabled)
        if self.stream is not None:
            torch.cuda.set_stream(self.stream)
        torch.set_rng_state(self.cpu_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        for obj, attributes in self.attributes:
            vars(obj).clear()
            vars(obj).update(attributes)
        with torch.no_grad():
            for tensor, value in self.values:
                tensor.copy_(value)
        for param, grad in self.grads:
            param.grad = grad


def attempt(action: Callable[[], T], step) -> tuple[T | None, Exception | None]:
    """``(action(), None)``; or, when it raises, ``(None, the error)`` with the run put back
    as it was before (``StepSnapshot`` of the step's objects)."""
    snapshot = StepSnapshot(step_objects(step))
    try:
        return action(), None
    except Exception as err:
        snapshot.restore()
        return None, err
