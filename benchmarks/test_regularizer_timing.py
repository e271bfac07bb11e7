"""Timing of every regularizer's forward + backward at d = 128, next to library references.

Run: python -m pytest benchmarks/ [--benchmark-json FILE]
"""

import ot
import pytest
from geomloss import SamplesLoss

import regularizers

BATCHES = [64, 256, 1024]
METHODS = ["mmd", "swd", "sinkhorn", "gan"]


def forward_backward(reg, z, x):
    z.grad = None
    reg(z, x).backward()


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("method", METHODS)
def test_forward_backward(benchmark, make_inputs, method, batch):
    benchmark.group = f"B={batch}"
    benchmark(forward_backward, *make_inputs(method, batch))


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("queue", [4096, 65536])
def test_moca_forward_backward(benchmark, make_inputs, queue, batch):
    """Includes the key encoder's forward on x, MoCA's only intrinsic extra cost."""
    benchmark.group = f"B={batch}"
    benchmark(forward_backward, *make_inputs("moca", batch, K=queue))


@pytest.mark.parametrize("batch", BATCHES)
def test_pot_sliced_wasserstein_reference(benchmark, make_inputs, batch):
    """POT's ot.sliced_wasserstein_distance on torch tensors, same L = 50 and p = 2."""
    benchmark.group = f"B={batch}"
    _, z, _ = make_inputs("swd", batch)
    prior = regularizers.SpherePrior(z.shape[1])

    def step():
        z.grad = None
        ot.sliced_wasserstein_distance(z, prior.sample(batch), n_projections=50, p=2).backward()

    benchmark(step)


@pytest.mark.parametrize("batch", BATCHES)
def test_geomloss_sinkhorn_reference(benchmark, make_inputs, batch):
    """geomloss called directly with the sinkhorn regularizer's defaults."""
    benchmark.group = f"B={batch}"
    _, z, _ = make_inputs("sinkhorn", batch)
    prior = regularizers.SpherePrior(z.shape[1])
    loss = SamplesLoss("sinkhorn", p=2, blur=0.05, scaling=0.9, debias=True)

    def step():
        z.grad = None
        loss(z, prior.sample(batch)).backward()

    benchmark(step)


@pytest.mark.parametrize("method", ["moca", "gan"])
def test_after_step(benchmark, make_inputs, method):
    """The post-optimizer hook: EMA + enqueue (moca), one discriminator step (gan)."""
    benchmark.group = "after_step B=256"
    reg, z, x = make_inputs(method, 256)

    def step():
        reg(z, x)
        reg.after_step(z.detach(), x)

    benchmark(step)
