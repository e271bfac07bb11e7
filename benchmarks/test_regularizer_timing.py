"""Forward + backward of every regularizer at d = 128, next to library references.

Run: python -m pytest benchmarks/ --benchmark-json FILE, then wae-bench timing FILE.
"""

import ot
import pytest
import torch
from geomloss import SamplesLoss

import regularizers

from .conftest import peak_memory_mb

BATCHES = [64, 256, 1024, 4096]
HEAVY = 4096  # few rounds at this size: one call takes seconds


def forward_backward(reg, z, x):
    z.grad = None
    reg(z, x).backward()


def run(benchmark, fn, batch):
    if batch >= HEAVY:
        benchmark.pedantic(fn, rounds=3, iterations=1, warmup_rounds=1)
    else:
        benchmark(fn)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("method", ["mmd", "swd", "sinkhorn", "gan", "cwae"])
def test_forward_backward(benchmark, make_inputs, method, batch):
    benchmark.group = f"regularizer B={batch}"
    benchmark.extra_info.update(role="regularizer", method=method, batch=batch)
    reg, z, x = make_inputs(method, batch)
    run(benchmark, lambda: forward_backward(reg, z, x), batch)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("queue", [4096, 16384, 65536])
def test_moca_forward_backward(benchmark, make_inputs, queue, batch):
    """Includes the key encoder's forward on x, MoCA's only intrinsic extra cost."""
    benchmark.group = f"regularizer B={batch}"
    benchmark.extra_info.update(role="regularizer", method="moca", batch=batch, K=queue)
    reg, z, x = make_inputs("moca", batch, K=max(queue, batch))
    run(benchmark, lambda: forward_backward(reg, z, x), batch)


@pytest.mark.parametrize("batch", BATCHES)
def test_pot_sliced_wasserstein_reference(benchmark, make_inputs, batch):
    """POT's ot.sliced_wasserstein_distance on torch tensors, same L = 50 and p = 2."""
    benchmark.group = f"regularizer B={batch}"
    benchmark.extra_info.update(role="regularizer", method="pot-swd", batch=batch)
    _, z, _ = make_inputs("swd", batch)
    prior = regularizers.SpherePrior(z.shape[1])

    def step():
        z.grad = None
        ot.sliced_wasserstein_distance(z, prior.sample(batch), n_projections=50, p=2).backward()

    run(benchmark, step, batch)


@pytest.mark.parametrize("batch", BATCHES)
def test_geomloss_sinkhorn_reference(benchmark, make_inputs, batch):
    """geomloss called directly with the sinkhorn regularizer's defaults."""
    benchmark.group = f"regularizer B={batch}"
    benchmark.extra_info.update(role="regularizer", method="geomloss-sinkhorn", batch=batch)
    _, z, _ = make_inputs("sinkhorn", batch)
    prior = regularizers.SpherePrior(z.shape[1])
    loss = SamplesLoss("sinkhorn", p=2, blur=0.05, scaling=0.9, debias=True)

    def step():
        z.grad = None
        loss(z, prior.sample(batch)).backward()

    run(benchmark, step, batch)


@pytest.mark.parametrize("method", ["moca", "gan"])
def test_after_step(benchmark, make_inputs, method):
    """The post-optimizer hook: EMA + enqueue (moca), one discriminator step (gan)."""
    benchmark.group = "after_step B=256"
    benchmark.extra_info.update(role="after_step", method=method, batch=256)
    reg, z, x = make_inputs(method, 256)

    def step():
        reg(z, x)
        reg.after_step(z.detach(), x)

    benchmark(step)


@pytest.mark.parametrize("batch", [1024, 4096, 8192])
@pytest.mark.parametrize("method", ["mmd", "sinkhorn", "cwae"])
def test_peak_memory_of_pairwise_methods(benchmark, method, batch):
    """Peak RSS of one forward + backward of the B x B methods, in a fresh process."""
    benchmark.group = "peak memory"
    code = f"""
        from benchmarks.conftest import bound_regularizer
        reg, z, x = bound_regularizer({method!r}, {batch})
        reg(z, x).backward()
    """
    peak = benchmark.pedantic(peak_memory_mb, args=(code,), rounds=1, iterations=1)
    benchmark.extra_info.update(role="memory", method=method, batch=batch, peak_mb=peak)
    assert peak < 24 * 1024


@pytest.mark.parametrize("shape", [(1000, 1000), (256, 50)])
@pytest.mark.parametrize("impl", ["torch", "numpy"])
def test_sort(benchmark, impl, shape):
    """The floor of every sliced method: torch.sort vs numpy's sort (regularizers.swd.fast_sort)."""
    from regularizers.swd import fast_sort

    benchmark.group = "sort"
    benchmark.extra_info.update(role="sort", impl=impl, shape=f"{shape[0]}x{shape[1]}")
    x = torch.randn(*shape)
    benchmark(fast_sort if impl == "numpy" else lambda t: torch.sort(t, dim=0), x)
