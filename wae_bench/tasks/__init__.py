"""The task registry: every module in this package that defines ``TASK`` is a task.

A task (``base.Task``) declares its config class, its result file and headline metric, and
the few things that differ between tasks (data, models, evaluation, figures); the one run
loop (``wae_bench.runner``) does the rest. ``cli``, ``sweep`` and ``report`` read this
registry and name no task. Adding a task means adding one module here.

Every command imports every task module, so these import pandas, matplotlib (``plots``),
torchvision and the FID libraries inside the functions that use them.
"""

import importlib
import pkgutil

from ..errors import UsageError
from .base import Task

_TASKS: dict[str, Task] = {}


def _discover() -> dict[str, Task]:
    if not _TASKS:
        for info in pkgutil.iter_modules(__path__):
            if info.name.startswith("_") or info.name == "base":
                continue
            task = getattr(importlib.import_module(f"{__name__}.{info.name}"), "TASK", None)
            if isinstance(task, Task):
                _TASKS[task.name] = task
    return _TASKS


def names() -> list[str]:
    """Registered task names, in the order the CLI lists them (``Task.order``)."""
    return [t.name for t in sorted(_discover().values(), key=lambda t: (t.order, t.name))]


def get(name: str) -> Task:
    """The task called ``name``; unknown names are bad input listing the known ones."""
    tasks = _discover()
    if name not in tasks:
        raise UsageError(f"unknown task {name!r}; choose from {', '.join(names())}")
    return tasks[name]


__all__ = ["Task", "get", "names"]
