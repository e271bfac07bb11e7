"""What the GPU check does: sizes per mode, each section's time budget, and the targets."""

from dataclasses import dataclass

from wae_bench import gpu_targets

# the targets and the A2 epoch they speak of: one table in the package, which `wae-bench
# timing` reads too (section titles below are the targets' ``section``)
TARGETS, A2_METHODS = gpu_targets.TARGETS, gpu_targets.A2_METHODS
CIFAR_TRAIN, CIFAR_BATCH = gpu_targets.CIFAR_TRAIN, gpu_targets.CIFAR_BATCH
STEPS_PER_EPOCH = gpu_targets.STEPS_PER_EPOCH
PAPER_RUNS, PAPER_EPOCHS = 6, 100  # moca and mmd at three lam, one seed
NO_CUDA = "no CUDA"
PACKAGES = ("torch", "numpy", "geomloss", "pot", "pykeops", "torchvision", "pandas")

# Each section's budget in seconds, in the order the sections run. A command is interrupted at
# its section's budget (KILL_GRACE_S later killed); an in-process section starts nothing new
# once its budget is spent. 320 s in all, plus Python's start and the summaries: under 6 min.
BUDGETS_S = {
    "machine": 5,
    "CUDA tests": 100,  # about 10 s of collection, then the CUDA tests (seconds each on a GPU)
    "latent CLI wall time": 65,  # cuda run capped at 35 s (target 10 s), then the cpu run
    "per-step times": 50,  # 30 configurations of about 100 steps, milliseconds each on a GPU
    "A2 epoch and the paper's protocol": 80,  # images scaled to the budget (see sections.py)
    "image SWD, N = 10,000": 20,  # one call, about 1 s on a GPU (15 s on 2 CPU cores)
}
KILL_GRACE_S = 10  # after SIGINT, time to write the JUnit XML and results before SIGKILL
LATENT_CLI_CUDA_CAP_S = 35


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


# Each size in the full check and in the small mode, side by side: (full, small). The small
# mode is one image run, where evaluation and figures dominate.
_SIZES = {
    "latent_cli": ((), ("--methods", "mmd", "--epochs", "1", "--points", "64")),
    "warmup": (3, 0),
    "blocks": (5, 1),
    "block_steps": (20, 1),
    "step_arch": ("a2", "conv"),
    "a2_batch": (64, 8),
    "a2_block_steps": (10, 1),
    "images": (CIFAR_TRAIN, 64),
    "test_images": (1_000, 16),
    "eval_samples": (1_000, 16),
    "image_arch": ("a2", "conv"),
    "image_runs": (("--lambdas", "moca=10", "--lambdas", "mmd=0,10"),
                   ("--methods", "mmd", "--lambdas", "mmd=10")),
    "swd_n": (10_000, 256),
}  # fmt: skip
FULL = Sizes(**{name: full for name, (full, _) in _SIZES.items()})
SMALL = Sizes(**{name: small for name, (_, small) in _SIZES.items()})
# the CUDA tests: every test whose name mentions cuda (they skip without CUDA), both modes;
# not this check's own tests, which run the check
CUDA_TESTS = ("tests", "-k", "cuda and not test_gpu_check")
