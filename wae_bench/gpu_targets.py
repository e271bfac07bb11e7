"""The GPU targets of the performance issue, written once.

`wae-bench timing` judges the CUDA rows of a benchmark run against these limits (``LIMITS``,
read by ``timing.gpu_targets``) and the GPU check (benchmarks/gpu_check) judges its own
measurements against the whole table. A target holds when its value (in ``unit``) is
<= ``limit``, or >= it with ``at_least``.

The A2 targets are about the paper's CIFAR-10 protocol: an epoch is
ceil(50,000 / 64) = 782 steps of batch 64; "plain" is the autoencoder alone (lam = 0).
"""

from dataclasses import dataclass

A2_METHODS = ["plain", "moca", "mmd"]
CIFAR_TRAIN, CIFAR_BATCH = 50_000, 64
STEPS_PER_EPOCH = -(-CIFAR_TRAIN // CIFAR_BATCH)  # 782
# one latent step (MLP 100 -> 256 -> 128, batch 64, graphs, float32) on CUDA, in ms
LATENT_STEP_MS = {"moca": 0.5, "mmd": 0.5, "swd": 0.5, "gan": 0.5, "sinkhorn": 2.0}


@dataclass(frozen=True)
class Target:
    """A target: value (in ``unit``) <= limit, or >= with at_least; ``section`` is the GPU
    check's section that measures it."""

    key: str
    name: str
    limit: float
    unit: str
    section: str
    at_least: bool = False


_CLI, _STEPS = "latent CLI wall time", "per-step times"
_EPOCH, _SWD = "A2 epoch and the paper's protocol", "image SWD, N = 10,000"
TARGETS = [
    Target("latent_cli_cuda", "`wae-bench latent --device cuda` wall time (default run)", 10.0,
           "s", _CLI),
    Target("latent_cli_cuda_over_cpu", "latent CLI: cuda / cpu wall time, same machine", 1.0,
           "x", _CLI),
    *[Target(f"latent_step_{m}", f"latent step (MLP, B=64, graphs, fp32), {m}", limit, "ms",
             _STEPS)
      for m, limit in LATENT_STEP_MS.items()],
    *[Target(f"bf16_speedup_{m}", f"A2 step (graphs), {m}: fp32 time / bf16 time", 1.3, "x",
             _STEPS, at_least=True) for m in A2_METHODS],
    Target("a2_epoch_plain", "A2 epoch, 50,000 images (782 steps, fp32, graphs), plain", 4.0,
           "s", _EPOCH),
    Target("a2_epoch_mmd", "A2 epoch, 50,000 images (782 steps, fp32, graphs), mmd", 4.0, "s",
           _EPOCH),
    Target("a2_epoch_moca_over_plain", "A2 epoch: moca / plain", 1.25, "x", _EPOCH),
    Target("paper_protocol", "paper's CIFAR-10 protocol (A2, 100 epochs, moca + mmd x 3 lam, "
           "1 seed): EXTRAPOLATED = 6 runs x 100 epochs x s/epoch", 1.0, "h", _EPOCH),
    Target("image_swd_s", "image SWD, N = 10,000 32x32x3: time", 20.0, "s", _SWD),
    Target("image_swd_peak", "image SWD, N = 10,000: peak GPU memory", 4.0, "GB", _SWD),
    Target("cuda_tests", "CUDA tests (`pytest tests -k cuda`) on CUDA: failed, errored or "
           "skipped", 0.0, "", "CUDA tests"),
]  # fmt: skip
LIMITS = {target.key: target.limit for target in TARGETS}  # e.g. "a2_epoch_plain": 4.0 (s)
