"""Run folders and files: atomic writes, CSV/Markdown/JSON, the run's environment."""

import json
import math
import os
import platform
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd
import torch

from .errors import UsageError

TRACKED_PACKAGES = ("wae-bench", "torch", "geomloss", "pot", "numpy", "pandas", "matplotlib")


def prepare_run_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and prove it is writable before any work starts."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise UsageError(
            f"cannot write to output folder {path}: {reason}; pass a writable --out"
        ) from None
    return path


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)``, then rename over ``path``: readers see old or new, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def mean_std(mean: float, std: float, digits: int) -> str:
    """'m ± s' with ``digits`` decimals; just 'm' for one seed (std NaN); '-' when no mean."""
    if math.isnan(mean):
        return "-"
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_json(path: Path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.8g"))


def read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise UsageError(f"{path} not found; pass the folder of a finished wae-bench run")
    return pd.read_csv(path)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def environment(device: torch.device) -> dict:
    """Versions and hardware, recorded next to every result."""
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def resolve_device(name: str) -> torch.device:
    """auto -> cuda when available, else cpu; an explicit cuda without a GPU is bad input."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda asked for, but no CUDA GPU is visible; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device {name!r}; use auto, cpu or cuda") from None


def save_checkpoint(path: Path, state: dict) -> None:
    """torch.save through a temporary file: a kill leaves the old or the new checkpoint."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path, device) -> dict:
    try:
        return torch.load(path, map_location=device, weights_only=False)
    except Exception as err:  # torch raises many kinds for a torn or foreign file
        raise UsageError(
            f"checkpoint {path} cannot be read ({type(err).__name__}); "
            "delete it to restart that run"
        ) from None


def resume_from(path: Path, device, load) -> None:
    """Read the checkpoint at ``path`` and hand it to ``load``; misfits are bad input."""
    state = load_checkpoint(path, device)
    try:
        load(state)
    except (ValueError, KeyError, RuntimeError) as err:
        raise UsageError(
            f"checkpoint {path} does not fit this run ({str(err).splitlines()[0]}); "
            "delete it to restart the run"
        ) from None


def check_resumable(out: Path, settings: dict, *, free: tuple[str, ...]) -> None:
    """--resume continues only a run made with the same settings, except those in ``free``
    (device, quiet, ...)."""
    previous = read_json(out / "config.json").get("config")
    if previous is None:
        return
    changed = [
        key for key in settings
        if key not in free and previous.get(key) != settings[key]
    ]  # fmt: skip
    if changed:
        raise UsageError(
            f"--resume: settings differ from the run in {out} ({', '.join(changed)}); "
            "repeat its settings or use a new --out"
        )
