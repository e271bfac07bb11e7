"""What every benchmark shares: where it runs, how a call is timed there, and its inputs.

Where. Every benchmark takes a ``where`` parameter (a ``Where``: the device and, for whole
training steps, whether the step is replayed as CUDA graphs and in which precision). It runs
on the CPU and on CUDA; the CUDA cases are collected everywhere and skipped when CUDA is not
available. CPU cases keep the names they had before devices were added (their "cpu" id is
left out of the names written to the JSON, fixture ``benchmark``), so a new CPU run
compares with results/timing/benchmark.json name for name.

Timing on CUDA: synchronize inside the timed call. Kernels run asynchronously (a call
returns once its work is queued), so every timed call on CUDA ends with
``torch.cuda.synchronize()`` (``timed``): a round runs from an idle GPU to an idle GPU and
measures launch overhead plus GPU work, what a training loop pays. CUDA events would leave
out the Python launch time, which is exactly what CUDA graphs save, so they are not used.
Warm-up rounds absorb lazy initialization (cuBLAS handles, cuDNN autotuning); a graphed step
is driven past its eager warm-up steps and its recording (``warm_up``) before timing starts.

Tags. Every benchmark records ``extra_info`` role, device and its parameters (``tag``);
``wae-bench timing`` reads only those and the statistics.
"""

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest
import torch

import regularizers
from regularizers import TrainingPlan
from wae_bench import methods
from wae_bench.cuda_graphs import WARMUP_STEPS, GraphedStep
from wae_bench.models import MLPEncoder
from wae_bench.recipe import assemble

DATA_DIM, LATENT_DIM = 100, 128
HAS_CUDA = torch.cuda.is_available()


@dataclass(frozen=True)
class Where:
    """A device and, for training steps, CUDA-graph replay and autocast precision."""

    device: str = "cpu"
    graphs: bool = False
    amp: str = "fp32"  # or "bf16" (autocast of the networks: recipe.assemble's amp)

    def __str__(self) -> str:  # the test id: cpu, cuda, cuda-graphs, cuda-bf16-graphs
        return "-".join([self.device] + ["bf16"] * (self.amp == "bf16") + ["graphs"] * self.graphs)


CPU, CUDA = Where(), Where("cuda")
CUDA_GRAPHS = Where("cuda", graphs=True)


def on(*places: Where):
    """Parametrize a benchmark over ``places`` (argument ``where``); CUDA ones skip without CUDA."""
    needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
    params = [pytest.param(w, id=str(w), marks=[needs_cuda] * (w.device == "cuda"))
              for w in places]  # fmt: skip
    return pytest.mark.parametrize("where", params)


devices = on(CPU, CUDA)  # every benchmark
steps = on(CPU, CUDA, CUDA_GRAPHS)  # whole training steps: graphs on/off on CUDA
amp_steps = on(CPU, CUDA, CUDA_GRAPHS, Where("cuda", amp="bf16"),
               Where("cuda", graphs=True, amp="bf16"))  # fmt: skip


@pytest.fixture
def benchmark(benchmark, request):
    """pytest-benchmark's fixture; CPU cases are recorded under their pre-device names
    (test_x[mmd-64-cpu] -> test_x[mmd-64]) so that runs compare with the CPU reference."""
    spec = getattr(request.node, "callspec", None)
    where = spec.params.get("where") if spec is not None else None
    if where is not None:
        benchmark.params = {**spec.params, "where": str(where)}
    if where == CPU:
        short = spec.id.removesuffix("-cpu").removeprefix("cpu-")
        old, new = f"[{spec.id}]", "" if short == "cpu" else f"[{short}]"
        benchmark.name = benchmark.name.replace(old, new)
        benchmark.fullname = benchmark.fullname.replace(old, new)
        benchmark.param = None if short == "cpu" else short
        del benchmark.params["where"]
    return benchmark


def pytest_benchmark_update_machine_info(config, machine_info):
    """The GPU beside the CPU in the JSON's machine_info (timing.md names it)."""
    machine_info["torch"] = torch.__version__
    if HAS_CUDA:
        machine_info["cuda"] = {"device": torch.cuda.get_device_name(),
                                "version": torch.version.cuda}  # fmt: skip


def tag(benchmark, where: Where, group: str, *, step: bool = False, **info) -> None:
    """Group (CUDA groups end in " [cuda]") and extra_info: role etc., device, graphs and amp."""
    benchmark.group = group if where.device == "cpu" else f"{group} [{where.device}]"
    benchmark.extra_info.update(info, device=where.device)
    if step:
        benchmark.extra_info.update(graphs=where.graphs, amp=where.amp)


def timed(where: Where, fn):
    """``fn`` that, on CUDA, returns only once the GPU has finished its work."""
    if where.device != "cuda":
        return fn

    def synchronized(*args, **kwargs):
        out = fn(*args, **kwargs)
        torch.cuda.synchronize()
        return out

    return synchronized


def training_step(where: Where, encoder, method: str, plan: TrainingPlan, *, decoder=None,
                  lam: float = 1.0):  # fmt: skip
    """The harness's step (``recipe.assemble``) on ``where``: graphed there with graphs; "plain"
    (``recipe.PLAIN``) is an autoencoder without regularizer."""
    models = {"encoder": encoder} if decoder is None else {"encoder": encoder, "decoder": decoder}
    step = assemble(models, method, prior=regularizers.SpherePrior(LATENT_DIM), plan=plan, lam=lam,
                    amp=where.amp, device=where.device, graphs=where.graphs).step  # fmt: skip
    assert isinstance(step, GraphedStep) == where.graphs, f"{method}: not graphed on {where}"
    return step


def warm_up(step, x) -> None:
    """Drive a GraphedStep past its eager warm-up and its recording (no-op otherwise)."""
    if isinstance(step, GraphedStep):
        for _ in range(WARMUP_STEPS + 2):
            step(x)
        assert step.graphs, "the step was not captured as a CUDA graph"
        torch.cuda.synchronize()


def bound_regularizer(method: str, batch: int, device: str = "cpu", **hparams):
    """(regularizer bound to the latent MLP as a run binds it, ``methods.bind``; codes z with
    grad; data x) at d = 128."""
    torch.manual_seed(0)
    encoder = MLPEncoder(DATA_DIM, 256, LATENT_DIM).to(device)
    plan = TrainingPlan(batch_size=batch, total_steps=10**6, dataset_size=10**6)
    regularizer = methods.bind(method, hparams, encoder=encoder,
                       prior=regularizers.SpherePrior(LATENT_DIM), plan=plan).to(device)
    x = torch.randn(batch, DATA_DIM, device=device)
    z = torch.nn.functional.normalize(torch.randn(batch, LATENT_DIM, device=device), dim=1)
    return regularizer, z.requires_grad_(), x


@pytest.fixture
def make_inputs():
    return bound_regularizer


_PEAK = {  # how a fresh process reads its peak memory in MB, per device
    "cpu": """
        def peak():  # VmHWM: ru_maxrss would inherit the parent's peak through fork + exec
            with open("/proc/self/status") as status:
                line = next(s for s in status if s.startswith("VmHWM:"))
            return int(line.split()[1]) / 1024
    """,
    "cuda": """
        torch.cuda.init()
        def peak():  # memory allocated on the GPU by tensors, at its highest
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**20
    """,
}


def peak_memory_mb(code: str, device: str = "cpu") -> float:
    """Peak memory (MB) that ``code`` adds in a fresh Python process with torch loaded: resident
    memory on the CPU, GPU memory allocated by tensors on CUDA.

    Run in a subprocess, so each measurement starts clean; ``code`` sees `torch` and `device`.
    """
    script = (
        "import json, torch\nimport wae_bench, regularizers  # noqa: F401\n"
        + textwrap.dedent(_PEAK[device])
        + f"device = {device!r}\nbefore = peak()\ntorch.manual_seed(0)\n"
        + textwrap.dedent(code)
        + "\nprint(json.dumps(peak() - before))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
