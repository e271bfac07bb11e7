"""Checkpoints that stay data: only tensors and plain values are saved, and loading one never
runs code from the file (a foreign object is one line of bad input).
"""

import pickle
import re
from collections import OrderedDict
from pathlib import Path

import torch

from .errors import UsageError
from .run_files import atomic_write, first_line

CHECKPOINT_LEAVES = (torch.Tensor, torch.nn.Parameter, bool, int, float, str, bytes, type(None))


CHECKPOINT_BRANCHES = (dict, OrderedDict, list, tuple)


FOREIGN_GLOBAL = re.compile(r"(?:GLOBAL|Unsupported class) ([\w.]+)")  # in torch's message


def save_checkpoint(path: Path, state: dict) -> None:
    """torch.save through a temporary file: a kill leaves the old or the new checkpoint.

    ``state`` holds tensors, numbers, text, lists, tuples and dicts only, so that
    ``load_checkpoint`` reads it with ``torch.load(weights_only=True)``, which runs nothing.
    """
    foreign = _foreign_value(state, "state")
    if foreign:
        raise TypeError(f"a checkpoint holds tensors, numbers, text, lists and dicts only; "
                        f"{foreign}")  # fmt: skip

    def write(tmp):
        with open(tmp, "wb") as f:
            try:
                torch.save(state, f)
            except RuntimeError as err:  # torch hides the file's OSError (disk full) inside
                if isinstance(err.__context__, OSError):
                    raise err.__context__ from None
                raise

    atomic_write(path, write)


def _foreign_value(value, where: str) -> str:
    """Where ``value`` holds anything else than CHECKPOINT_LEAVES in CHECKPOINT_BRANCHES
    ('' when nowhere). Types are compared exactly: numpy.float64 is a float subclass that
    ``torch.load(weights_only=True)`` refuses."""
    kind = type(value)
    if kind in CHECKPOINT_LEAVES:
        return ""
    if kind not in CHECKPOINT_BRANCHES:
        return f"{where} is a {kind.__module__}.{kind.__qualname__}"
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        found = _foreign_value(key, f"a key of {where}")
        found = found or _foreign_value(item, f"{where}[{key!r}]")
        if found:
            return found
    return ""


def load_checkpoint(path: Path) -> dict:
    """The state dict saved by ``save_checkpoint``, read with ``weights_only=True``: tensors,
    numbers, text, lists and dicts, nothing that runs. A torn or foreign file, or one that
    names any other object (which loading could run as code), is bad input.

    Tensors are read onto the CPU whatever device the run uses: the RNG states must be CPU
    byte tensors (``torch.set_rng_state``, ``Generator.set_state``), and the modules and the
    optimizer copy their saved tensors into their own, on their device, in place."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = FOREIGN_GLOBAL.search(str(err))
        if found is None:
            raise _unreadable(path, type(err).__name__) from None
        raise UsageError(
            f"checkpoint {path} holds more than tensors, numbers and text (it names "
            f"{found.group(1)}, which loading could run as code), so it is not loaded; pass "
            "--overwrite to replace the run, or delete it to restart that run"
        ) from None
    except Exception as err:  # torch raises many kinds for a torn or foreign file
        raise _unreadable(path, type(err).__name__) from None
    if not isinstance(state, dict):
        raise _unreadable(path, f"holds a {type(state).__name__}, not a dict")
    return state


def _unreadable(path: Path, why: str) -> UsageError:
    return UsageError(f"checkpoint {path} cannot be read ({why}); delete it to restart that run")


def resume_from(path: Path, load) -> None:
    """Read the checkpoint at ``path`` and hand it to ``load``; misfits are bad input."""
    state = load_checkpoint(path)
    try:
        load(state)
    except (ValueError, KeyError, RuntimeError) as err:
        raise UsageError(
            f"checkpoint {path} does not fit this run ({first_line(err)}); "
            "delete it to restart the run"
        ) from None
