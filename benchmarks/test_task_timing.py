"""Whole steps of the tasks: harness overhead, MoCA's cost over a plain AE, the latent and A2
steps of the GPU targets, the image metric. CPU and CUDA (conftest.py: ``where``); on CUDA the
steps also with CUDA graphs, the A2 step also in bf16."""

import math

import pytest
import torch
import torch.nn.functional as F

import regularizers
from regularizers import TrainingPlan
from regularizers.mmd import mmd_unbiased
from wae_bench.image_swd import image_swd
from wae_bench.models import MLPEncoder, build_autoencoder
from wae_bench.step import train_epoch
from wae_bench.tasks.latent.task import batches

from .conftest import amp_steps, devices, peak_memory_mb, steps, tag, timed, training_step, warm_up

POINTS, DATA_DIM, HIDDEN, LATENT, BATCH = 1000, 100, 256, 128, 64


@steps
def test_latent_epoch_through_the_harness(benchmark, where):
    """One epoch of the latent task with mmd: Regularizer + train_epoch + batch iterator."""
    tag(benchmark, where, "latent epoch (mmd)", step=True, role="latent_epoch", variant="harness")
    torch.manual_seed(0)
    data = torch.randn(POINTS, DATA_DIM, device=where.device)
    step = training_step(where, MLPEncoder(DATA_DIM, HIDDEN, LATENT), "mmd",
                         TrainingPlan(BATCH, 10**6, POINTS))  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    epoch = timed(where, lambda: train_epoch(step, batches(data, BATCH, gen)))
    if where.graphs:  # both batch shapes (64 and the last 40) past warm-up and recording
        for _ in range(5):
            epoch()
    benchmark(epoch)


@devices
def test_latent_epoch_bare_torch_loop(benchmark, where):
    """The same arithmetic written as a bare loop, no harness."""
    tag(benchmark, where, "latent epoch (mmd)", role="latent_epoch", variant="bare")
    torch.manual_seed(0)
    device = where.device
    data = torch.randn(POINTS, DATA_DIM, device=device)
    net = torch.nn.Sequential(
        torch.nn.Linear(DATA_DIM, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, LATENT)
    ).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    scales = torch.tensor([2.0 * s for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)], device=device)
    gen = torch.Generator().manual_seed(0)

    def epoch():
        total = torch.zeros((), device=device)
        for idx in torch.randperm(POINTS, generator=gen).to(device).split(BATCH):
            z = F.normalize(net(data[idx]), dim=1)
            y = F.normalize(torch.randn(len(idx), LATENT, device=device), dim=1)
            loss = mmd_unbiased(z, y, "imq", scales)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(idx)
        return float(total) / POINTS

    benchmark(epoch)


LATENT_METHODS = regularizers.available()  # every registered method


@steps
@pytest.mark.parametrize("method", LATENT_METHODS)
def test_latent_step(benchmark, method, where):
    """One step of the latent task (MLP 100 -> 256 -> 128, batch 64, sphere prior) through the
    shared TrainingStep: forward, penalty, backward, Adam, after_step."""
    tag(benchmark, where, "latent step (MLP, B=64)", step=True, role="latent_step",
        method=method, batch=BATCH)  # fmt: skip
    torch.manual_seed(0)
    step = training_step(where, MLPEncoder(DATA_DIM, HIDDEN, LATENT), method,
                         TrainingPlan(BATCH, 10**6, POINTS))  # fmt: skip
    x = torch.randn(BATCH, DATA_DIM, device=where.device)
    warm_up(step, x)
    rounds = 200 if where.device == "cuda" else 20  # sinkhorn and gan take 0.1 s on the CPU
    benchmark.pedantic(timed(where, step), args=(x,), rounds=rounds, iterations=1,
                       warmup_rounds=5)  # fmt: skip


STEPS = [("plain", 0.0), *((method, 1.0) for method in regularizers.available())]


# (channels, side, dataset size): the default image task (digits, MoCA K = 1500) and a
# CIFAR-10-shaped one (MoCA K = 16384)
IMAGE_SETTINGS = {"digits 16x16x1": (1, 16, 1500), "cifar-like 32x32x3": (3, 32, 50_000)}


@steps
@pytest.mark.parametrize("setting", list(IMAGE_SETTINGS))
@pytest.mark.parametrize(("method", "lam"), STEPS)
def test_image_training_step(benchmark, method, lam, setting, where):
    """One WAE step (conv arch, batch 64) per method; lam = 0 is a plain autoencoder."""
    channels, side, dataset_size = IMAGE_SETTINGS[setting]
    tag(benchmark, where, f"image step (conv, {setting}, B=64)", step=True, role="image_step",
        method=method, lam=lam, setting=setting)  # fmt: skip
    torch.manual_seed(0)
    encoder, decoder = build_autoencoder("conv", channels, side, LATENT)
    step = training_step(where, encoder, method, TrainingPlan(BATCH, 10**6, dataset_size),
                         decoder=decoder, lam=lam)  # fmt: skip
    x = torch.rand(BATCH, channels, side, side, device=where.device)
    warm_up(step, x)
    benchmark.pedantic(timed(where, lambda: train_epoch(step, [x])), rounds=60, iterations=1,
                       warmup_rounds=10)  # fmt: skip


A2_METHODS = ["plain", "moca", "mmd"]
A2_STEPS_PER_EPOCH = 782  # 50,000 CIFAR-10 training images in batches of 64


@amp_steps
@pytest.mark.parametrize("method", A2_METHODS)
def test_a2_training_step(benchmark, method, where):
    """One step of the paper's CIFAR-10 protocol: A2 (ResNet) on 32x32x3, batch 64, latent 128,
    MoCA with K = 16384; plain = the autoencoder alone (lam = 0). About 0.5 TFLOP a step, so
    on the CPU (about 20 s a step on 2 cores) it runs one round after one warm-up round."""
    tag(benchmark, where, "A2 step (32x32x3, B=64)", step=True, role="a2_step", method=method,
        batch=BATCH, steps_per_epoch=A2_STEPS_PER_EPOCH)  # fmt: skip
    torch.manual_seed(0)
    encoder, decoder = build_autoencoder("a2", 3, 32, LATENT)
    step = training_step(where, encoder, method, TrainingPlan(BATCH, 10**6, 50_000),
                         decoder=decoder, lam=1.0)  # fmt: skip
    x = torch.rand(BATCH, 3, 32, 32, device=where.device)
    warm_up(step, x)
    rounds, warmup = (1, 1) if where.device == "cpu" else (30, 5)
    benchmark.pedantic(timed(where, step), args=(x,), rounds=rounds, iterations=1,
                       warmup_rounds=warmup)  # fmt: skip


@devices
@pytest.mark.parametrize("n", [1000, 10_000])
def test_image_swd_metric(benchmark, n, where):
    """Image SWD between two sets of n 32x32x3 images (512 directions, 128 patches, 2 levels)."""
    tag(benchmark, where, "image SWD (32x32x3)", role="image_swd", n=n)
    g = torch.Generator().manual_seed(0)
    a = torch.rand(n, 3, 32, 32, generator=g).to(where.device)
    b = torch.rand(n, 3, 32, 32, generator=g).to(where.device)
    rounds = 3 if n <= 1000 or where.device == "cuda" else 1
    benchmark.pedantic(timed(where, image_swd), args=(a, b), rounds=rounds, iterations=1)
    if n == 10_000:
        code = """
            from wae_bench.image_swd import image_swd
            a = torch.rand(10000, 3, 32, 32, device=device)
            b = torch.rand(10000, 3, 32, 32, device=device)
            image_swd(a, b)
        """
        peak = peak_memory_mb(code, where.device)
        benchmark.extra_info["peak_mb"] = peak
        assert math.isfinite(peak)
