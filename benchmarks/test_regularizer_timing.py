"""Forward + backward of every regularizer at d = 128, next to library references.

Run: python -m pytest benchmarks/ --benchmark-json FILE, then wae-bench timing FILE.
Each benchmark runs on the CPU and, where available, on CUDA (conftest.py: ``where``).
"""

import ot
import pytest
import torch
from geomloss import SamplesLoss

import regularizers
from regularizers.ssw import (
    circle_coordinates,
    circle_wasserstein,
    random_great_circles,
    w2_to_uniform_circle,
)
from regularizers.swd import fast_sort

from .conftest import devices, peak_memory_mb, tag, timed

BATCHES = [64, 256, 1024, 4096]
# every registered method; moca is timed at three queue sizes below
METHODS = [m for m in regularizers.available() if m != "moca"]
# the methods that train something after the encoder's step (moca's EMA and queue, the critic)
AFTER_STEP = [m for m in regularizers.available()
              if regularizers.get(m).after_step is not regularizers.Regularizer.after_step]
HEAVY = 4096  # few rounds at this size: one call takes seconds on the CPU


def forward_backward(regularizer, z, x):
    z.grad = None
    regularizer(z, x).backward()


def run(benchmark, where, fn, batch):
    fn = timed(where, fn)
    if batch >= HEAVY:
        benchmark.pedantic(fn, rounds=3, iterations=1, warmup_rounds=1)
    else:
        benchmark(fn)


@devices
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("method", METHODS)
def test_forward_backward(benchmark, make_inputs, method, batch, where):
    tag(benchmark, where, f"regularizer B={batch}", role="regularizer", method=method, batch=batch)
    regularizer, z, x = make_inputs(method, batch, where.device)
    run(benchmark, where, lambda: forward_backward(regularizer, z, x), batch)


@devices
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("queue", [4096, 16384, 65536])
def test_moca_forward_backward(benchmark, make_inputs, queue, batch, where):
    """Includes the key encoder's forward on x, MoCA's only intrinsic extra cost."""
    tag(benchmark, where, f"regularizer B={batch}", role="regularizer", method="moca",
        batch=batch, K=queue)  # fmt: skip
    regularizer, z, x = make_inputs("moca", batch, where.device, K=max(queue, batch))
    run(benchmark, where, lambda: forward_backward(regularizer, z, x), batch)


@devices
@pytest.mark.parametrize("batch", BATCHES)
def test_pot_sliced_wasserstein_reference(benchmark, make_inputs, batch, where):
    """POT's ot.sliced_wasserstein_distance on torch tensors, same L = 50 and p = 2."""
    tag(benchmark, where, f"regularizer B={batch}", role="regularizer", method="pot-swd",
        batch=batch)  # fmt: skip
    _, z, _ = make_inputs("swd", batch, where.device)
    prior = regularizers.SpherePrior(z.shape[1])

    def step():
        z.grad = None
        y = prior.sample(batch, device=z.device)
        ot.sliced_wasserstein_distance(z, y, n_projections=50, p=2).backward()

    run(benchmark, where, step, batch)


@devices
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("impl", ["ours", "pot"])
@pytest.mark.parametrize("against", ["uniform", "samples"])
def test_spherical_sliced_wasserstein_vs_pot(benchmark, make_inputs, against, impl, batch, where):
    """SSW_2^2 forward + backward on L = 50 great circles: ours (regularizers.ssw: the closed
    form against the uniform distribution, the cyclic-shift search against as many prior
    samples) and POT's ot.sliced_wasserstein_sphere_unif / ot.sliced_wasserstein_sphere (a
    binary search over the cut of the circle) on the same codes and circles."""
    method = f"{'pot-' * (impl == 'pot')}ssw-{against}"
    tag(benchmark, where, f"regularizer B={batch}", role="regularizer", method=method,
        batch=batch)  # fmt: skip
    _, z, _ = make_inputs("ssw", batch, where.device)
    d = z.shape[1]
    frames = random_great_circles(d, 50, device=z.device)
    prior = regularizers.SpherePrior(d)

    def ours():
        codes = fast_sort(circle_coordinates(z, frames))
        if against == "uniform":
            return w2_to_uniform_circle(codes).mean()
        y = fast_sort(circle_coordinates(prior.sample(batch, device=z.device), frames))
        return circle_wasserstein(codes, y).mean()

    def pot():
        if against == "uniform":
            return ot.sliced_wasserstein_sphere_unif(z, projections=frames, n_projections=50) ** 2
        y = prior.sample(batch, device=z.device)
        return ot.sliced_wasserstein_sphere(z, y, projections=frames, n_projections=50) ** 2

    loss = ours if impl == "ours" else pot

    def step():
        z.grad = None
        loss().backward()

    run(benchmark, where, step, batch)


@devices
@pytest.mark.parametrize("batch", BATCHES)
def test_geomloss_sinkhorn_reference(benchmark, make_inputs, batch, where):
    """geomloss called directly with the sinkhorn regularizer's defaults."""
    tag(benchmark, where, f"regularizer B={batch}", role="regularizer",
        method="geomloss-sinkhorn", batch=batch)  # fmt: skip
    _, z, _ = make_inputs("sinkhorn", batch, where.device)
    prior = regularizers.SpherePrior(z.shape[1])
    loss = SamplesLoss("sinkhorn", p=2, blur=0.05, scaling=0.9, debias=True)

    def step():
        z.grad = None
        loss(z, prior.sample(batch, device=z.device)).backward()

    run(benchmark, where, step, batch)


@devices
@pytest.mark.parametrize("method", AFTER_STEP)
def test_after_step(benchmark, make_inputs, method, where):
    """The post-optimizer hook: EMA + enqueue (moca), one discriminator step (gan)."""
    tag(benchmark, where, "after_step B=256", role="after_step", method=method, batch=256)
    regularizer, z, x = make_inputs(method, 256, where.device)

    def step():
        regularizer(z, x)
        regularizer.after_step(z.detach(), x)

    benchmark(timed(where, step))


@devices
@pytest.mark.parametrize("batch", [1024, 4096, 8192])
@pytest.mark.parametrize("method", METHODS)
def test_peak_memory_of_pairwise_methods(benchmark, method, batch, where):
    """Peak memory of one forward + backward of every method but moca (the B x B ones
    dominate), in a fresh process: resident memory on the CPU, GPU memory allocated by
    tensors on CUDA."""
    tag(benchmark, where, "peak memory", role="memory", method=method, batch=batch)
    code = f"""
        from benchmarks.conftest import bound_regularizer
        regularizer, z, x = bound_regularizer({method!r}, {batch}, device)
        regularizer(z, x).backward()
    """
    peak = benchmark.pedantic(peak_memory_mb, args=(code, where.device), rounds=1, iterations=1)
    benchmark.extra_info["peak_mb"] = peak
    assert peak < 24 * 1024


@devices
@pytest.mark.parametrize("shape", [(1000, 1000), (256, 50)])
@pytest.mark.parametrize("impl", ["torch", "numpy"])
def test_sort(benchmark, impl, shape, where):
    """The floor of every sliced method: torch.sort vs numpy's sort (regularizers.swd.fast_sort,
    which sorts CPU tensors with numpy and CUDA ones with torch.sort)."""
    from regularizers.swd import fast_sort

    if impl == "numpy" and where.device != "cpu":
        pytest.skip("numpy sorts host memory; fast_sort uses torch.sort on CUDA")
    tag(benchmark, where, "sort", role="sort", impl=impl, shape=f"{shape[0]}x{shape[1]}")
    x = torch.randn(*shape, device=where.device)
    benchmark(timed(where, fast_sort if impl == "numpy" else lambda t: torch.sort(t, dim=0)), x)
