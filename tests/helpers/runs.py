"""Tiny command lines of each task, and a method that diverges on purpose."""

import regularizers
from wae_bench.cli import main

LATENT_TINY = [
    "latent",
    "--epochs",
    "2",
    "--points",
    "64",
    "--batch-size",
    "16",
    "--data-dim",
    "6",
    "--hidden-dim",
    "16",
    "--latent-dim",
    "8",
    "--eval-directions",
    "20",
    "--quiet",
]


IMAGE_TINY = [
    "image",
    "--epochs",
    "3",
    "--eval-every",
    "2",
    "--eval-samples",
    "64",
    "--latent-dim",
    "8",
    "--seeds",
    "1",
    "--lambdas",
    "1",
    "--quiet",
]


TINY_SWEEP = """\
task = "latent"
name = "tiny"
[settings]
epochs = 2
points = 64
batch_size = 16
data_dim = 6
hidden_dim = 16
latent_dim = 8
eval_directions = 20
[grid]
methods = ["swd"]
seeds = [0, 1]
"swd.L" = [10, 20]
"""  # a two-point latent sweep file


def run_cli(*args):
    return main([*LATENT_TINY, *map(str, args)])


def tune_cli(out, *args, methods="swd,mmd", trials=3, final_seeds=2):
    """A tiny latent tune into ``out``; returns the exit status."""
    return main(["tune", *LATENT_TINY, "--methods", methods, "--trials", str(trials),
                 "--final-seeds", str(final_seeds), "--out", str(out),
                 *map(str, args)])  # fmt: skip


class Exploding(regularizers.Regularizer):
    """A method whose penalty is NaN: the run must be reported as diverged."""

    name = "exploding"

    def forward(self, z, x):
        return z.sum() * float("nan")
