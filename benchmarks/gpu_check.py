"""The prepared GPU check: one run on one GPU, one Markdown + JSON summary of the GPU targets.

    bash benchmarks/gpu_check.sh [--out DIR] [--small] [--stem NAME]

On a CUDA machine (an H100, no network, only the project's dependencies installed) it runs
in about 3-5 minutes (a 6-minute deadline caps every subprocess) and writes
``results/timing/gpu_check.md`` and ``.json``. Sections, one progress line each:

  1. machine: GPU, torch and CUDA versions, CPU count, the packages the methods need;
  2. latent CLI: wall time of the default ``wae-bench latent --device cuda`` and of the same
     command with ``--device cpu`` on the same machine (subprocesses, Python start included);
  3. per-step times: every latent method (MLP 100 -> 256 -> 128, batch 64) and the A2 step on
     32x32x3 batch 64 (plain autoencoder, moca, mmd) in fp32 and bf16, graphs on and off;
  4. A2 epoch: ``wae-bench image`` (paper-cifar10 protocol, 1 epoch) on 50,000 generated
     CIFAR-10-shaped images written as cifar-10-batches-py pickles, moca (lam 10), mmd (lam 10)
     and a plain autoencoder (mmd at lam 0); seconds per epoch from metrics.csv, and the
     paper's protocol (A2, 100 epochs, moca and mmd at three lam, one seed) extrapolated;
  5. image SWD at N = 10,000: time and peak GPU memory;
  6. CUDA tests: ``python -m pytest tests/test_step.py`` (passed / skipped / failed).

Per-step times are medians over blocks of steps: each block starts and ends with
``torch.cuda.synchronize()`` and its time is divided by its step count (launches overlap
within a block, as in training). Graphed steps are driven past their eager warm-up and
recording first.

Without CUDA (or with ``--small``) it runs a small mode in well under a minute: the same
sections and summary shape with tiny sizes (1-epoch latent run on 64 points; the conv
autoencoder instead of A2 for the image step and epoch, since one A2 step takes seconds on a
CPU; 64 images; image SWD at N = 256; only the CUDA tests), CUDA rows marked "no CUDA" when
CUDA is absent, and no target judged. Its default stem is ``gpu_check_cpu``
(``gpu_check_small`` with CUDA), so that it is never taken for a GPU run.

A section that fails records its error in the summary and the check goes on; the exit status
is 1 when any section failed (a missed target is a result, not a failure). Nothing is
installed or downloaded.
"""

import argparse
import functools
import json
import os
import pickle
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DEADLINE_S = 345  # the whole check, full mode: under 6 minutes
A2_METHODS = ["plain", "moca", "mmd"]
CIFAR_TRAIN, CIFAR_BATCH = 50_000, 64
STEPS_PER_EPOCH = -(-CIFAR_TRAIN // CIFAR_BATCH)  # 782
PAPER_RUNS, PAPER_EPOCHS = 6, 100  # moca and mmd at three lam, one seed
NO_CUDA = "no CUDA"
PACKAGES = ("torch", "numpy", "geomloss", "pot", "pykeops", "torchvision", "pandas")


@dataclass(frozen=True)
class Sizes:
    """How much each section does: the full GPU check or the small smoke run."""

    latent_cli: tuple[str, ...]  # flags added to the default latent command
    warmup: int  # eager steps before timing
    blocks: int  # timed blocks per step configuration
    block_steps: int  # steps per block (latent; the A2 step uses a_block_steps)
    step_arch: str  # the image step timed: a2 (small mode: conv, an A2 step is seconds on CPU)
    a2_batch: int
    a2_block_steps: int
    images: int  # generated training images
    test_images: int
    eval_samples: int
    image_arch: str
    image_runs: tuple[str, ...]  # methods and lam of the image command
    swd_n: int
    tests: tuple[str, ...]  # pytest selection of tests/test_step.py


FULL = Sizes(
    latent_cli=(),
    warmup=3,
    blocks=5,
    block_steps=20,
    step_arch="a2",
    a2_batch=64,
    a2_block_steps=10,
    images=CIFAR_TRAIN,
    test_images=1_000,
    eval_samples=1_000,
    image_arch="a2",
    image_runs=("--lambdas", "moca=10", "--lambdas", "mmd=0,10"),
    swd_n=10_000,
    tests=(),
)
SMALL = Sizes(  # one image run (evaluation and figures dominate it at this size)
    latent_cli=("--methods", "mmd", "--epochs", "1", "--points", "64"),
    warmup=0,
    blocks=1,
    block_steps=1,
    step_arch="conv",
    a2_batch=8,
    a2_block_steps=1,
    images=64,
    test_images=16,
    eval_samples=16,
    image_arch="conv",
    image_runs=("--methods", "mmd", "--lambdas", "mmd=10"),
    swd_n=256,
    tests=("-k", "cuda"),
)


@dataclass(frozen=True)
class Target:
    """A target of the performance issue: value (in ``unit``) <= limit, or >= with at_least."""

    key: str
    name: str
    limit: float
    unit: str
    at_least: bool = False


TARGETS = [
    Target("latent_cli_cuda", "`wae-bench latent --device cuda` wall time (default run)", 10.0,
           "s"),
    Target("latent_cli_cuda_over_cpu", "latent CLI: cuda / cpu wall time, same machine", 1.0,
           "x"),
    *[Target(f"latent_step_{m}", f"latent step (MLP, B=64, graphs, fp32), {m}", limit, "ms")
      for m, limit in (("moca", 0.5), ("mmd", 0.5), ("swd", 0.5), ("gan", 0.5),
                       ("sinkhorn", 2.0))],
    *[Target(f"bf16_speedup_{m}", f"A2 step (graphs), {m}: fp32 time / bf16 time", 1.3, "x",
             at_least=True) for m in A2_METHODS],
    Target("a2_epoch_plain", "A2 epoch, 50,000 images (782 steps, fp32, graphs), plain", 4.0,
           "s"),
    Target("a2_epoch_mmd", "A2 epoch, 50,000 images (782 steps, fp32, graphs), mmd", 4.0, "s"),
    Target("a2_epoch_moca_over_plain", "A2 epoch: moca / plain", 1.25, "x"),
    Target("paper_protocol", "paper's CIFAR-10 protocol (A2, 100 epochs, moca + mmd x 3 lam, "
           "1 seed): EXTRAPOLATED = 6 runs x 100 epochs x s/epoch", 1.0, "h"),
    Target("image_swd_s", "image SWD, N = 10,000 32x32x3: time", 20.0, "s"),
    Target("image_swd_peak", "image SWD, N = 10,000: peak GPU memory", 4.0, "GB"),
    Target("cuda_tests", "tests/test_step.py on CUDA: tests failed, errored or skipped", 0.0, ""),
]  # fmt: skip


@dataclass
class Section:
    """What a section reports: a table, the values of its targets, notes, and its error."""

    title: str
    status: str = "ok"  # ok, failed
    seconds: float = 0.0
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""


class Check:
    """The state shared by the sections: mode, device, deadline, measured target values."""

    def __init__(self, small: bool):
        self.cuda = torch.cuda.is_available()
        self.small = small or not self.cuda
        self.sizes = SMALL if self.small else FULL
        self.device = "cuda" if self.cuda else "cpu"
        self.start = time.monotonic()
        self.deadline = self.start + DEADLINE_S
        self.values: dict[str, tuple[float, str]] = {}  # target key -> (value, shown text)
        self.step_ms: dict[tuple, float] = {}  # (task, method, amp, graphs) -> ms on CUDA
        self.tmp = Path(tempfile.mkdtemp(prefix="wae-gpu-check-"))

    def measure(self, key: str, value: float, text: str | None = None) -> None:
        """Record a target's value (only CUDA measurements count for the targets)."""
        self.values[key] = (value, text or "")

    def time_left(self, cap: float) -> float:
        left = self.deadline - time.monotonic()
        if left < 5:
            raise TimeoutError(f"the check's {DEADLINE_S} s deadline has passed")
        return min(cap, left)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _shown(check: Check, args: list[str]) -> str:
    """The command as a user types it, temporary paths as TMP (python -m wae_bench: wae-bench)."""
    text = " ".join(["wae-bench" if a == "wae_bench" else a for a in args])
    return text.replace(str(check.tmp), "TMP")


def run_command(check: Check, args: list[str], cap: float, log: Path) -> float:
    """Wall time of ``python -m <args>`` run from the repository root; raises on failure."""
    paths = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}  # this checkout's code
    start = time.perf_counter()
    with open(log, "w") as out:
        try:
            done = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env,
                                  stdout=out, stderr=subprocess.STDOUT,
                                  timeout=check.time_left(cap))  # fmt: skip
        except subprocess.TimeoutExpired as err:
            raise TimeoutError(f"`{' '.join(args)}` ran past {err.timeout:.0f} s") from None
    seconds = time.perf_counter() - start
    if done.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"`{' '.join(args)}` exited {done.returncode}:\n{tail}")
    return seconds


# ---- sections ---------------------------------------------------------------------------


def machine(check: Check, section: Section) -> None:
    def installed(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    info = {
        "GPU": torch.cuda.get_device_name() if check.cuda else "none (no CUDA)",
        "torch": torch.__version__,
        "CUDA (torch build)": torch.version.cuda or "none",
        "CPU count": f"{os.cpu_count()} ({affinity} usable)",
        "CPU": _cpu_name(),
        "Python": platform.python_version(),
        "mode": "small (tiny sizes; targets not judged)" if check.small else "full",
        **{f"package {name}": installed(name) for name in PACKAGES if name != "torch"},
    }
    if check.cuda:
        props = torch.cuda.get_device_properties(0)
        info["GPU memory"] = f"{props.total_memory / 2**30:.0f} GiB"
    section.rows = [{"item": k, "value": v} for k, v in info.items()]


def _cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(
            line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")
        )
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def latent_cli(check: Check, section: Section) -> None:
    """The default latent command on cuda and on cpu, whole-process wall time."""
    seconds = {}
    for device in ("cuda", "cpu"):
        args = ["wae_bench", "latent", "--device", device, *check.sizes.latent_cli,
                "--out", str(check.tmp / f"latent_{device}")]  # fmt: skip
        if device == "cuda" and not check.cuda:
            section.rows.append({"device": device, "command": _shown(check, args),
                                 "wall time (s)": NO_CUDA})  # fmt: skip
            continue
        seconds[device] = run_command(check, args, 120, check.tmp / f"latent_{device}.log")
        section.rows.append({"device": device, "command": _shown(check, args),
                             "wall time (s)": f"{seconds[device]:.1f}"})  # fmt: skip
    if "cuda" in seconds:
        check.measure("latent_cli_cuda", seconds["cuda"])
        check.measure("latent_cli_cuda_over_cpu", seconds["cuda"] / seconds["cpu"])
    section.notes.append("Each time includes starting Python and importing torch.")


def _latent_step(device, method, graphs, amp_dtype, batch):
    import regularizers
    from regularizers import SpherePrior, TrainingPlan
    from regularizers.optim import Adam
    from wae_bench.models import MLPEncoder
    from wae_bench.train import TrainingStep

    encoder = MLPEncoder(100, 256, 128).to(device)
    reg = regularizers.build(method)
    reg.bind(encoder, SpherePrior(128), TrainingPlan(batch, 10**6, 1000))
    reg.to(device)
    step = TrainingStep(encoder, reg, Adam(encoder.parameters(), lr=1e-3), amp_dtype=amp_dtype)
    return step, torch.randn(batch, 100, device=device)


def _image_step(arch, device, method, graphs, amp_dtype, batch):
    import regularizers
    from regularizers import SpherePrior, TrainingPlan
    from regularizers.optim import Adam
    from wae_bench.models import build_autoencoder
    from wae_bench.train import TrainingStep

    encoder, decoder = (m.to(device) for m in build_autoencoder(arch, 3, 32, 128))
    reg = regularizers.build("mmd" if method == "plain" else method)
    reg.bind(encoder, SpherePrior(128), TrainingPlan(batch, 10**6, CIFAR_TRAIN))  # K = 16384
    reg.to(device)
    params = [*encoder.parameters(), *decoder.parameters()]
    step = TrainingStep(encoder, reg, Adam(params, lr=1e-3), decoder=decoder,
                        lam=0.0 if method == "plain" else 10.0, amp_dtype=amp_dtype)  # fmt: skip
    return step, torch.rand(batch, 3, 32, 32, device=device)


def _time_step(check, build, task, method, device, amp, graphs, batch, block_steps) -> dict:
    """One row: the median per-step time of a configuration (see the module docstring)."""
    from wae_bench.graphs import WARMUP_STEPS, GraphedStep

    row = {"task": _label(check, task, device), "method": method, "device": device,
           "precision": amp, "graphs": "on" if graphs else "off", "batch": batch}  # fmt: skip
    if device == "cuda" and not check.cuda:
        return {**row, "ms / step (median)": NO_CUDA, "note": ""}
    torch.manual_seed(0)
    step, x = build(device, method, graphs, torch.bfloat16 if amp == "bf16" else None, batch)
    note = ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if graphs:
            step = GraphedStep(step, method)
        for _ in range(WARMUP_STEPS + 2 if graphs else check.sizes.warmup):
            step(x)
        sync(device)
    if graphs and not step.graphs:
        note = "not captured, ran eagerly: " + "; ".join(str(w.message) for w in caught)
    times = []
    for _ in range(check.sizes.blocks):
        sync(device)
        start = time.perf_counter()
        for _ in range(block_steps):
            step(x)
        sync(device)
        times.append((time.perf_counter() - start) / block_steps * 1e3)
    ms = statistics.median(times)
    if device == "cuda":
        check.step_ms[(task, method, amp, graphs)] = ms
    del step, x
    if device == "cuda":
        torch.cuda.empty_cache()
    return {**row, "ms / step (median)": f"{ms:.3g}", "note": note}


def _label(check: Check, task: str, device: str) -> str:
    if task == "latent":
        return task
    arch = check.sizes.step_arch if check.cuda or device == "cpu" else "a2"
    return f"{arch.upper() if arch == 'a2' else arch} 32x32x3"


def step_times(check: Check, section: Section) -> None:
    """Every latent method and the A2 step, per precision and graphs setting."""
    import regularizers

    s = check.sizes
    configs = [("latent", _latent_step, m, "fp32", s.block_steps, 64)
               for m in regularizers.available()]  # fmt: skip
    image = functools.partial(_image_step, s.step_arch)
    configs += [("image", image, m, amp, s.a2_block_steps, s.a2_batch)
                for amp in ("fp32", "bf16") for m in A2_METHODS]  # fmt: skip
    failures = []
    for task, build, method, amp, block_steps, batch in configs:
        places = [("cuda", True), ("cuda", False)]
        if not check.cuda and amp == "fp32":
            places.append(("cpu", False))  # the small mode proves the timing path on the CPU
        for device, graphs in places:
            # a CUDA row that cannot run shows what the full check would time there
            size = FULL.a2_batch if task == "image" and device != check.device else batch
            try:
                section.rows.append(_time_step(check, build, task, method, device, amp, graphs,
                                               size, block_steps))  # fmt: skip
            except Exception as err:  # one configuration failing leaves the others
                failures.append(f"{task} {method} {amp} graphs={graphs}: {_oneline(err)}")
                section.rows.append({"task": _label(check, task, device), "method": method,
                                     "device": device, "precision": amp,
                                     "graphs": "on" if graphs else "off", "batch": size,
                                     "ms / step (median)": "failed",
                                     "note": _oneline(err)})  # fmt: skip
    ms = check.step_ms
    for method in ("moca", "mmd", "swd", "gan", "sinkhorn"):
        if ("latent", method, "fp32", True) in ms:
            check.measure(f"latent_step_{method}", ms[("latent", method, "fp32", True)])
    for method in A2_METHODS:
        fp32, bf16 = (ms.get(("image", method, amp, True)) for amp in ("fp32", "bf16"))
        if fp32 and bf16:
            check.measure(f"bf16_speedup_{method}", fp32 / bf16)
    section.notes.append(
        f"Median over {check.sizes.blocks} block(s) of steps; each block is synchronized at "
        "both ends and divided by its step count. Graphed steps were driven past their eager "
        "warm-up and recording before timing."
    )
    if failures:
        raise RuntimeError("; ".join(failures))


def write_cifar_batches(folder: Path, train: int, test: int) -> None:
    """Random CIFAR-10-shaped images in the cifar-10-batches-py format data.py reads."""
    import numpy as np

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    files = {f"data_batch_{i + 1}": train // 5 + (i < train % 5) for i in range(5)}
    for name, n in {**files, "test_batch": test}.items():
        batch = {"data": rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),
                 "labels": rng.integers(0, 10, n).tolist(), "batch_label": name}  # fmt: skip
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)


def image_epoch(check: Check, section: Section) -> None:
    """One epoch of `wae-bench image` per method on generated CIFAR-shaped images."""
    import pandas as pd

    s = check.sizes
    images = s.images
    step = check.step_ms.get(("image", "plain", "fp32", True))
    budget = check.deadline - time.monotonic() - 90  # keep time for the sections after it
    predicted = 3 * STEPS_PER_EPOCH * step / 1e3 if step else 0.0  # three runs, seconds
    if not check.small and predicted > budget:
        images = max(50, int(STEPS_PER_EPOCH * budget / predicted)) * CIFAR_BATCH
        section.notes.append(f"{images:,} images instead of 50,000 to stay within the "
                             "deadline (predicted from the A2 step); seconds scaled to 782 "
                             "steps.")  # fmt: skip
    root = check.tmp / "data"
    write_cifar_batches(root / "cifar-10-batches-py", images, s.test_images)
    out = check.tmp / "image_run"
    args = ["wae_bench", "image", "--protocol", "paper-cifar10", "--data-root", str(root),
            "--epochs", "1", "--eval-samples", str(s.eval_samples), "--arch", s.image_arch,
            *s.image_runs, "--device", check.device, "--out", str(out)]  # fmt: skip
    wall = run_command(check, args, 300, check.tmp / "image.log")
    metrics = pd.read_csv(out / "metrics.csv")
    steps = -(-images // CIFAR_BATCH)
    per_epoch = {}
    for _, row in metrics[metrics["epoch"] == 1].iterrows():
        name = "plain" if row["lam"] == 0 else row["method"]
        per_epoch[name] = float(row["seconds"]) * STEPS_PER_EPOCH / steps
        run = f"{row['method']}, lam {row['lam']:g}" + " (plain)" * (name == "plain")
        section.rows.append({"run": run, "device": check.device, "arch": s.image_arch,
                             "images": images, "measured s (1 epoch)": f"{row['seconds']:.2f}",
                             "s / epoch (782 steps)": f"{per_epoch[name]:.2f}"})  # fmt: skip
    section.notes.append(
        f"`{_shown(check, args)}`: {wall:.0f} s wall (evaluation, figures, set-up "
        "and Python start included; seconds per epoch count training only)."
    )
    if check.small:
        section.notes.append("Small mode: one run on a few images, to prove the path; the "
                             "full check runs moca, mmd and plain on 50,000 images.")  # fmt: skip
        return
    moca, mmd = per_epoch["moca"], per_epoch["mmd"]
    paper_h = PAPER_RUNS // 2 * PAPER_EPOCHS * (moca + mmd) / 3600
    section.notes += [
        "The first epoch of a run includes its warm-up steps and the CUDA graph recording, "
        "so s / epoch is a little pessimistic for a 100-epoch run.",
        f"Paper's protocol, EXTRAPOLATED (not measured): 3 runs x {PAPER_EPOCHS} epochs x "
        f"{moca:.2f} s (moca) + 3 runs x {PAPER_EPOCHS} epochs x {mmd:.2f} s (mmd) = "
        f"{paper_h:.2f} h.",
    ]
    if check.cuda:
        check.measure("a2_epoch_plain", per_epoch["plain"])
        check.measure("a2_epoch_mmd", per_epoch["mmd"])
        check.measure("a2_epoch_moca_over_plain", per_epoch["moca"] / per_epoch["plain"])
        check.measure("paper_protocol", paper_h, f"{paper_h:.2f} h (extrapolated)")


def image_swd_time(check: Check, section: Section) -> None:
    from wae_bench.image_swd import image_swd

    n, device = check.sizes.swd_n, check.device
    g = torch.Generator().manual_seed(0)
    a = torch.rand(n, 3, 32, 32, generator=g).to(device)
    b = torch.rand(n, 3, 32, 32, generator=g).to(device)
    if device == "cuda":
        image_swd(a[:64], b[:64])  # kernels loaded before timing
        torch.cuda.reset_peak_memory_stats()
    sync(device)
    start = time.perf_counter()
    value = image_swd(a, b)
    sync(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    section.rows.append({"N": n, "device": device, "seconds": f"{seconds:.2f}",
                         "peak GPU memory (GB)": f"{peak:.2f}" if peak is not None else NO_CUDA,
                         "value": f"{value:.1f}"})  # fmt: skip
    section.notes.append("Peak memory: torch.cuda.max_memory_allocated, the two image sets "
                         "included.")  # fmt: skip
    if check.cuda:
        check.measure("image_swd_s", seconds)
        check.measure("image_swd_peak", peak)


def cuda_tests(check: Check, section: Section) -> None:
    args = ["pytest", "tests/test_step.py", "-q", "-p", "no:cacheprovider", *check.sizes.tests]
    log = check.tmp / "tests.log"
    try:
        run_command(check, args, 150, log)
        failed_run = ""
    except RuntimeError as err:  # failing tests: still count them
        failed_run = str(err).splitlines()[0]
    text = log.read_text(errors="replace")
    counts = {"passed": 0, "skipped": 0, "failed": 0, "error": 0, "deselected": 0}
    summary = text.strip().splitlines()[-1] if text.strip() else ""
    for number, word in re.findall(r"(\d+) (passed|skipped|failed|errors?|deselected)", summary):
        counts[word.rstrip("s") if word.startswith("error") else word] = int(number)
    section.rows.append({"command": f"python -m {' '.join(args)}", **counts})
    if check.cuda:
        bad = counts["failed"] + counts["error"] + counts["skipped"]
        check.measure("cuda_tests", bad, f"{counts['passed']} passed, {counts['skipped']} "
                      f"skipped, {counts['failed'] + counts['error']} failed")  # fmt: skip
    else:
        section.notes.append("Without CUDA the CUDA tests are skipped; the small mode runs only "
                             "the tests whose names mention cuda.")  # fmt: skip
    if failed_run and not (counts["failed"] or counts["error"]):
        raise RuntimeError(failed_run)


SECTIONS = [("machine", machine), ("latent CLI wall time", latent_cli),
            ("per-step times", step_times), ("A2 epoch and the paper's protocol", image_epoch),
            ("image SWD, N = 10,000", image_swd_time), ("CUDA tests", cuda_tests)]  # fmt: skip


# ---- summary ----------------------------------------------------------------------------


def _oneline(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"


def _fmt(value: float, unit: str) -> str:
    return f"{value:.3g} {unit}".strip() if unit != "x" else f"{value:.2f}x"


def target_rows(check: Check, sections: list[Section]) -> list[dict]:
    """Every target: measured, limit, met; 'no CUDA' / 'not judged' / 'failed' otherwise."""
    failed = {s.title for s in sections if s.status != "ok"}
    owner = {"latent_cli": "latent CLI wall time", "latent_step": "per-step times",
             "bf16": "per-step times", "a2_epoch": "A2 epoch and the paper's protocol",
             "paper": "A2 epoch and the paper's protocol", "image_swd": "image SWD, N = 10,000",
             "cuda_tests": "CUDA tests"}  # fmt: skip
    rows = []
    for t in TARGETS:
        title = next(v for k, v in owner.items() if t.key.startswith(k))
        limit = (">= " if t.at_least else "<= ") + _fmt(t.limit, t.unit)
        value, text = check.values.get(t.key, (None, ""))
        if value is not None:
            met = value >= t.limit if t.at_least else value <= t.limit
            shown, verdict = text or _fmt(value, t.unit), "yes" if met else "**no**"
            if check.small:
                met, verdict = None, "not judged (small mode)"
        elif not check.cuda:
            met, shown, verdict = None, NO_CUDA, "-"
        else:
            met, verdict = None, "-"
            shown = f"failed (see {title})" if title in failed else "not measured"
        rows.append({"key": t.key, "target": t.name, "measured": shown, "limit": limit,
                     "met": verdict, "value": value, "ok": met, "section": title})  # fmt: skip
    return rows


def _table(rows: list[dict], columns: list[str] | None = None) -> list[str]:
    columns = columns or list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return lines


def markdown(check: Check, sections: list[Section], targets: list[dict], total: float) -> str:
    kind = ("small mode, NOT a GPU measurement" if not check.cuda
            else "small mode (tiny sizes)" if check.small else "full")  # fmt: skip
    lines = [f"# GPU check ({kind})", ""]
    if check.small:
        lines += ["Tiny sizes to prove the check runs end to end; no target is judged. "
                  "CUDA rows read \"no CUDA\" where CUDA was absent.", ""]  # fmt: skip
    failed = [s.title for s in sections if s.status != "ok"]
    lines += [f"Finished in {total:.0f} s; sections failed: {', '.join(failed) or 'none'}. "
              "Written by `bash benchmarks/gpu_check.sh` (benchmarks/gpu_check.py).", "",
              "## Targets", ""]  # fmt: skip
    lines += _table(targets, ["target", "measured", "limit", "met"])
    for i, s in enumerate(sections, 1):
        lines += ["", f"## {i}. {s.title}", "", f"{s.status}, {s.seconds:.1f} s.", ""]
        if s.rows:
            lines += [*_table(s.rows), ""]
        lines += [f"- {note}" for note in s.notes]
        if s.error:
            lines += ["", "Error:", "", "```", s.error.strip(), "```"]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "results" / "timing",
                        help="folder for the summary (default results/timing)")  # fmt: skip
    parser.add_argument("--small", action="store_true",
                        help="tiny sizes (automatic without CUDA)")  # fmt: skip
    parser.add_argument("--stem", help="file name without suffix (default gpu_check; "
                        "gpu_check_cpu without CUDA, gpu_check_small with --small)")  # fmt: skip
    args = parser.parse_args(argv)
    check = Check(args.small)
    stem = args.stem or ("gpu_check_cpu" if not check.cuda else
                         "gpu_check_small" if check.small else "gpu_check")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    mode = "small" if check.small else "full"
    gpu = f"CUDA: {torch.cuda.get_device_name()}" if check.cuda else "no CUDA"
    print(f"gpu check ({mode} mode, {gpu})", flush=True)
    sections = []
    try:
        run_sections(check, sections)
    finally:
        shutil.rmtree(check.tmp, ignore_errors=True)
    total = time.monotonic() - check.start
    targets = target_rows(check, sections)
    from wae_bench import results

    summary = {"mode": mode, "cuda": check.cuda, "seconds": total,
               "failed_sections": [s.title for s in sections if s.status != "ok"],
               "targets": targets, "sections": [asdict(s) for s in sections]}  # fmt: skip
    results.write_text(args.out / f"{stem}.json", json.dumps(summary, indent=2) + "\n")
    results.write_text(args.out / f"{stem}.md", markdown(check, sections, targets, total))
    print(f"wrote {args.out / stem}.md and .json ({total:.0f} s)")
    return 1 if summary["failed_sections"] else 0


def run_sections(check: Check, sections: list[Section]) -> None:
    """Each section in turn, one progress line each; a failure is recorded, not raised."""
    for i, (title, run) in enumerate(SECTIONS, 1):
        section = Section(title)
        print(f"[{i}/{len(SECTIONS)}] {title} ...", end=" ", flush=True)
        start = time.perf_counter()
        try:
            run(check, section)
        except Exception as err:
            section.status = "failed"
            section.error = "".join(traceback.format_exception_only(err)) + "\n" + \
                "".join(traceback.format_tb(err.__traceback__)[-3:])  # fmt: skip
        section.seconds = time.perf_counter() - start
        why = f": {section.error.splitlines()[0]}" if section.error else ""
        print(f"{section.status} ({section.seconds:.1f} s){why}", flush=True)
        sections.append(section)


if __name__ == "__main__":
    raise SystemExit(main())
