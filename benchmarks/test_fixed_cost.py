"""The fixed cost of a command: a 1-epoch latent run next to `python -c "import torch"`.

Issue 9's target: the run takes at most 1.5x as long as importing torch on the same machine.
Both are fresh processes timed by the wall clock, one of each per round (so that a load
change on a shared machine hits both), median of the rounds.
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # this checkout's wae_bench, not an installed one
ROUNDS = 5
IMPORT_TORCH = [sys.executable, "-c", "import torch"]
COMMAND = [sys.executable, "-m", "wae_bench", "latent", "--methods", "moca", "--epochs", "1",
           "--quiet"]  # fmt: skip


def run(args: list[str]) -> None:
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True)


def test_one_epoch_latent_run_vs_import_torch(benchmark, tmp_path):
    benchmark.group = "fixed cost (1-epoch latent run, moca)"
    import_torch = []

    def next_round():  # untimed by the benchmark: import torch, timed here, and a fresh --out
        start = time.perf_counter()
        run(IMPORT_TORCH)
        import_torch.append(time.perf_counter() - start)
        return ([*COMMAND, "--out", str(tmp_path / f"run{len(import_torch)}")],), {}

    run([*COMMAND, "--out", str(tmp_path / "warm-up")])  # file cache, .pyc files
    benchmark.pedantic(run, setup=next_round, rounds=ROUNDS, iterations=1)
    import_torch_s = statistics.median(import_torch)
    command_s = benchmark.stats.stats.median
    benchmark.extra_info.update(role="fixed_cost", import_torch_s=import_torch_s,
                                command_s=command_s, ratio=command_s / import_torch_s)  # fmt: skip
