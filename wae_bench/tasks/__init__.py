"""The task registry: every module or package in this one that defines ``TASK`` is a task.

A task (``base.Task``) declares its settings, data and models, evaluation and report (about
a dozen members, grouped so in ``base``); the harness (``wae_bench.command`` and the modules
it calls) does the rest. ``cli``, ``sweep``, ``compare`` and
``report`` read this registry and name no task. Adding a task means adding one module here.

Every command imports every task's module (a package: its ``__init__``), so these import
pandas, matplotlib, torchvision and the FID libraries only inside the functions that use them
(the latent and image tasks keep their reports and figures in modules of their packages).
"""

import importlib
import pkgutil
from pathlib import Path

from .. import folders
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
    """Registered task names, in the order the CLI lists them (``About.order``)."""
    return [t.name for t in sorted(_discover().values(), key=lambda t: (t.about.order, t.name))]


def get(name: str) -> Task:
    """The task called ``name``; unknown names are bad input listing the known ones."""
    tasks = _discover()
    if name not in tasks:
        raise UsageError(f"unknown task {name!r}; choose from {', '.join(names())}")
    return tasks[name]


def of_folder(run_dir: Path, fix: str) -> Task:
    """The task named by a run folder's config.json; none is bad input ending in ``fix``."""
    saved = folders.read_config(run_dir)
    if "task" not in saved:
        raise UsageError(f"{Path(run_dir) / folders.CONFIG} not found or names no task; {fix}")
    return get(saved["task"])


__all__ = ["Task", "get", "names", "of_folder"]
