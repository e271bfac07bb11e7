"""Whole steps of the tasks: harness overhead, MoCA's cost over a plain AE, the image metric."""

import math

import pytest
import torch
import torch.nn.functional as F

import regularizers
from regularizers import TrainingPlan
from regularizers.mmd import mmd_unbiased
from regularizers.optim import Adam
from wae_bench.image_swd import image_swd
from wae_bench.models import MLPEncoder, build_autoencoder
from wae_bench.tasks.latent import batches
from wae_bench.train import TrainingStep, train_epoch

from .conftest import peak_memory_mb

POINTS, DATA_DIM, HIDDEN, LATENT, BATCH = 1000, 100, 256, 128, 64


def test_latent_epoch_through_the_harness(benchmark):
    """One epoch of the latent task with mmd: Regularizer + train_epoch + batch iterator."""
    benchmark.group = "latent epoch (mmd)"
    benchmark.extra_info.update(role="latent_epoch", variant="harness")
    torch.manual_seed(0)
    data = torch.randn(POINTS, DATA_DIM)
    encoder = MLPEncoder(DATA_DIM, HIDDEN, LATENT)
    reg = regularizers.build("mmd")
    reg.bind(encoder, regularizers.SpherePrior(LATENT), TrainingPlan(BATCH, 10**6, POINTS))
    step = TrainingStep(encoder, reg, Adam(encoder.parameters(), lr=1e-3))
    gen = torch.Generator().manual_seed(0)
    benchmark(lambda: train_epoch(step, batches(data, BATCH, gen)))


def test_latent_epoch_bare_torch_loop(benchmark):
    """The same arithmetic written as a bare loop, no harness."""
    benchmark.group = "latent epoch (mmd)"
    benchmark.extra_info.update(role="latent_epoch", variant="bare")
    torch.manual_seed(0)
    data = torch.randn(POINTS, DATA_DIM)
    net = torch.nn.Sequential(
        torch.nn.Linear(DATA_DIM, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, LATENT)
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    scales = torch.tensor([2.0 * s for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)])
    gen = torch.Generator().manual_seed(0)

    def epoch():
        total = torch.zeros(())
        for idx in torch.randperm(POINTS, generator=gen).split(BATCH):
            z = F.normalize(net(data[idx]), dim=1)
            y = F.normalize(torch.randn(len(idx), LATENT), dim=1)
            loss = mmd_unbiased(z, y, "imq", scales)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(idx)
        return float(total) / POINTS

    benchmark(epoch)


STEPS = [("plain", 0.0), ("moca", 1.0), ("mmd", 1.0), ("swd", 1.0), ("sinkhorn", 1.0), ("gan", 1.0)]


# (channels, side, dataset size): the default image task (digits, MoCA K = 1500) and a
# CIFAR-10-shaped one (MoCA K = 16384)
IMAGE_SETTINGS = {"digits 16x16x1": (1, 16, 1500), "cifar-like 32x32x3": (3, 32, 50_000)}


@pytest.mark.parametrize("setting", list(IMAGE_SETTINGS))
@pytest.mark.parametrize(("method", "lam"), STEPS)
def test_image_training_step(benchmark, method, lam, setting):
    """One WAE step (conv arch, batch 64) per method; lam = 0 is a plain autoencoder."""
    channels, side, dataset_size = IMAGE_SETTINGS[setting]
    benchmark.group = f"image step (conv, {setting}, B=64)"
    benchmark.extra_info.update(role="image_step", method=method, lam=lam, setting=setting)
    torch.manual_seed(0)
    encoder, decoder = build_autoencoder("conv", channels, side, LATENT)
    reg = regularizers.build("mmd" if method == "plain" else method)
    plan = TrainingPlan(BATCH, 10**6, dataset_size)
    reg.bind(encoder, regularizers.SpherePrior(LATENT), plan)
    params = [*encoder.parameters(), *decoder.parameters()]
    step = TrainingStep(encoder, reg, Adam(params, lr=1e-3), decoder=decoder, lam=lam)
    x = torch.rand(BATCH, channels, side, side)
    benchmark.pedantic(lambda: train_epoch(step, [x]), rounds=60, iterations=1, warmup_rounds=10)


@pytest.mark.parametrize("n", [1000, 10_000])
def test_image_swd_metric(benchmark, n):
    """Image SWD between two sets of n 32x32x3 images (512 directions, 128 patches, 2 levels)."""
    benchmark.group = "image SWD (32x32x3)"
    benchmark.extra_info.update(role="image_swd", n=n)
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(n, 3, 32, 32, generator=g), torch.rand(n, 3, 32, 32, generator=g)
    benchmark.pedantic(image_swd, args=(a, b), rounds=3 if n <= 1000 else 1, iterations=1)
    if n == 10_000:
        code = """
            from wae_bench.image_swd import image_swd
            a, b = torch.rand(10000, 3, 32, 32), torch.rand(10000, 3, 32, 32)
            image_swd(a, b)
        """
        peak = peak_memory_mb(code)
        benchmark.extra_info["peak_mb"] = peak
        assert math.isfinite(peak)
