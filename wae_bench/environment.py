"""Where a run runs: the device ``--device`` resolves to, and the record of the machine and
the source (versions, hardware, git commit, date) that config.json keeps beside every result.
"""

import datetime
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from .errors import UsageError

TRACKED_PACKAGES = ("wae-bench", "torch", "geomloss", "pot", "numpy", "pandas", "matplotlib")


def git_commit(start: Path | None = None) -> str:
    """The commit checked out where wae-bench's source lies ("" outside a git checkout), read
    from .git (HEAD, then the branch's ref file or packed-refs) without running git."""
    folder = Path(start or __file__).resolve().parent
    git = next((f / ".git" for f in (folder, *folder.parents) if (f / ".git").is_dir()), None)
    if git is None:
        return ""
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head  # a detached HEAD holds the commit itself
        ref = head.removeprefix("ref: ")
        if (git / ref).is_file():
            return (git / ref).read_text().strip()
        packed = (git / "packed-refs").read_text().splitlines()
        return next((line.split()[0] for line in packed if line.endswith(f" {ref}")), "")
    except OSError:
        return ""


def record(device: torch.device) -> dict:
    """Versions, hardware, the git commit of the source and the date (UTC), recorded next to
    every result."""
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
        "git_commit": git_commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def resolve_device(name: str, *, gpu_wins: bool = True) -> torch.device:
    """auto -> cuda when a GPU is visible and the work runs faster there (``gpu_wins``, the
    task's ``prefers_gpu``), else cpu; an explicit cuda without a GPU is bad input."""
    if name == "auto":
        return torch.device("cuda" if gpu_wins and torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda asked for, but no CUDA GPU is visible; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device {name!r}; use auto, cpu or cuda") from None
