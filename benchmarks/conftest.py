import json
import subprocess
import sys
import textwrap

import pytest
import torch

import regularizers
from regularizers import TrainingPlan
from wae_bench.models import MLPEncoder

DATA_DIM, LATENT_DIM = 100, 128


def bound_regularizer(method: str, batch: int, **hparams):
    """(regularizer bound to the latent MLP, codes z with grad, data x) at d = 128."""
    torch.manual_seed(0)
    encoder = MLPEncoder(DATA_DIM, 256, LATENT_DIM)
    reg = regularizers.build(method, **hparams)
    plan = TrainingPlan(batch_size=batch, total_steps=10**6, dataset_size=10**6)
    reg.bind(encoder, regularizers.SpherePrior(LATENT_DIM), plan)
    x = torch.randn(batch, DATA_DIM)
    z = torch.nn.functional.normalize(torch.randn(batch, LATENT_DIM), dim=1)
    return reg, z.requires_grad_(), x


@pytest.fixture
def make_inputs():
    return bound_regularizer


def peak_memory_mb(code: str) -> float:
    """Peak resident memory (MB) that ``code`` adds to a fresh Python process with torch loaded.

    Run in a subprocess, so each measurement starts clean; ``code`` sees `torch`.
    """
    script = (
        textwrap.dedent("""
        import json, torch
        import wae_bench, regularizers  # noqa: F401
        def peak():  # VmHWM: ru_maxrss would inherit the parent's peak through fork + exec
            with open("/proc/self/status") as status:
                line = next(s for s in status if s.startswith("VmHWM:"))
            return int(line.split()[1]) / 1024
        before = peak()
        torch.manual_seed(0)
    """)
        + textwrap.dedent(code)
        + "\nprint(json.dumps(peak() - before))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
