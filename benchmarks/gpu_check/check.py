"""The state the sections share (mode, device, logs, the current section's budget, measured
values) and the one way the check runs a command: within the budget, its output kept."""

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .plan import BUDGETS_S, FULL, KILL_GRACE_S, SMALL

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Section:
    """What a section reports: a table, notes, its error; ``details`` go to its log only."""

    title: str
    status: str = "ok"  # ok, failed
    seconds: float = 0.0
    budget_s: float = 0.0
    log: str = ""  # the section's log, relative to the logs folder
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""
    details: list[str] = field(default_factory=list)


class BudgetSpent(TimeoutError):
    """A section's budget ran out; ``seconds``: how long the interrupted command had run."""

    def __init__(self, message: str, seconds: float = 0.0):
        super().__init__(message)
        self.seconds = seconds


class Check:
    """Mode, device, the logs folder, the running section's budget and the measured values."""

    def __init__(self, small: bool, logs: Path):
        self.cuda = torch.cuda.is_available()
        self.small = small or not self.cuda
        self.sizes = SMALL if self.small else FULL
        self.device = "cuda" if self.cuda else "cpu"
        self.start = time.monotonic()
        self.logs = logs
        self.runs = logs / "runs"  # the commands' output folders, checkpoints left out
        self.values: dict[str, tuple[float, str]] = {}  # target key -> (value, shown text)
        self.why_not: dict[str, str] = {}  # target key -> why it was not measured
        self.step_ms: dict[tuple, float] = {}  # (task, method, amp, graphs) -> ms on CUDA
        self.tmp = Path(tempfile.mkdtemp(prefix="wae-gpu-check-"))  # data, raw run folders
        self.section_end = float("inf")
        self.budget = 0.0

    def begin(self, title: str) -> None:
        """Start a section's budget clock."""
        self.budget = BUDGETS_S[title]
        self.section_end = time.monotonic() + self.budget

    def left(self) -> float:
        """Seconds left of the running section's budget (negative once spent)."""
        return self.section_end - time.monotonic()

    def measure(self, key: str, value: float, text: str | None = None) -> None:
        """Record a target's value (only CUDA measurements count for the targets)."""
        self.values[key] = (value, text or "")

    def not_measured(self, key: str, why: str) -> None:
        self.why_not.setdefault(key, why)

    def shown(self, args: list[str]) -> str:
        """The command as a user types it (python -m wae_bench: wae-bench), paths shortened."""
        text = shlex.join(["wae-bench" if a == "wae_bench" else a for a in args])
        return text.replace(str(self.tmp), "TMP").replace(str(self.logs), "LOGS")


def oneline(err: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def run_command(check: Check, args: list[str], log_name: str, cap: float | None = None,
                keep: Path | None = None) -> float:  # fmt: skip
    """Wall time of ``python -m <args>`` run from the repository root, its output in
    ``logs/<log_name>``; raises BudgetSpent past the section's budget (or ``cap``), after
    SIGINT and KILL_GRACE_S to finish, and RuntimeError when the command fails. ``keep``: the
    command's output folder, copied into ``logs/runs/`` afterwards (checkpoints left out)."""
    try:
        return _run(check, args, log_name, cap)
    finally:
        if keep is not None and keep.exists():
            shutil.copytree(keep, check.runs / keep.name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("checkpoints"))  # fmt: skip


# How a command starts: as `python -m MODULE ARGS`, with SIGINT raising KeyboardInterrupt even
# where the check itself ignores SIGINT (started with `nohup` or `&` by a shell; a child
# inherits that) -- SIGINT is how the check stops a command at its budget and lets pytest
# write its JUnit XML. Set in the child, not by a preexec_fn (unsafe once torch has threads).
_LAUNCH = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
           "sys.argv = sys.argv[1:]; runpy.run_module(sys.argv[0], run_name='__main__', "
           "alter_sys=True)")


def _run(check: Check, args: list[str], log_name: str, cap: float | None) -> float:
    timeout = min(check.left(), cap if cap is not None else float("inf"))
    command = f"`{check.shown(args)}`"
    if timeout < 1:
        raise BudgetSpent(f"{command} not run: the section's {check.budget:.0f} s budget is spent")
    interrupt_at = max(timeout - KILL_GRACE_S, timeout / 2)
    paths = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}  # this checkout's code
    log = check.logs / log_name
    start = time.perf_counter()
    with open(log, "w") as out:
        out.write(f"$ python -m {shlex.join(args)}\n")
        out.flush()
        process = subprocess.Popen([sys.executable, "-c", _LAUNCH, *args], cwd=REPO, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            code = process.wait(timeout=interrupt_at)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)  # pytest writes its JUnit XML, runs stop
            try:
                process.wait(timeout=timeout - interrupt_at)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            raise BudgetSpent(f"{command} stopped at {interrupt_at:.0f} s, its share of the "
                              f"section's {check.budget:.0f} s budget (log: {log_name})",
                              interrupt_at) from None  # fmt: skip
    seconds = time.perf_counter() - start
    if code:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"{command} exited {code} (log: {log_name}):\n{tail}")
    return seconds
