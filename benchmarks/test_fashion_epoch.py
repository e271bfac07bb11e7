"""One Fashion-MNIST epoch of the image task (60,000 images at 32x32, conv autoencoder, batch
64, MMD at lam 10) through the harness against the same arithmetic as a bare PyTorch loop, and
an evaluation's image SWD of 10,000 Fashion-MNIST images, which should cost at most one such
epoch, beside the once-per-seed preparation of the test images' side.

Evaluation is excluded from the epochs. The data are the real Fashion-MNIST wherever
``wae_bench.data.load`` finds it (``--data-root``'s folders, then Debian's
``dataset-fashion-mnist`` package); without it these benchmarks skip.
"""

import statistics
import time

import pytest
import torch

import regularizers
from regularizers import TrainingPlan
from regularizers.mmd import SCALE_MULTIPLIERS, mmd_unbiased
from wae_bench import data
from wae_bench.errors import UsageError
from wae_bench.image_swd import image_swd_to, swd_reference
from wae_bench.models import build_autoencoder
from wae_bench.step import per_image_squared_error, train_epoch

from .conftest import CUDA_GRAPHS, devices, steps, tag, timed, training_step

BATCH, LATENT, LAM, ORDER_SEED = 64, 128, 10.0, 0
ROUNDS = 3  # medians of 3 rounds: one round's time moved by 10-15% between runs


@pytest.fixture(scope="module")
def fashion():
    """Fashion-MNIST's splits (32x32 in [0, 1]), or a skip naming how to get them."""
    try:
        return data.load("fashion-mnist")
    except UsageError as err:
        pytest.skip(f"no Fashion-MNIST here: {err}")


def _epoch_batches(images: torch.Tensor, device: str):
    """The image task's batches: one shuffled pass in batches of 64, from a fixed order."""
    return data.batches(images, BATCH, torch.Generator().manual_seed(ORDER_SEED), device)


def _harness_epoch(where, fashion):
    """One epoch of the image task's step (recipe.assemble, MMD, lam 10, train_epoch) on
    ``where``, as a callable that returns once the device has finished; on CUDA one epoch has
    run already (lazy set-up, and a graphed step records both batch shapes)."""
    torch.manual_seed(0)
    train = fashion.train.to(where.device)
    encoder, decoder = build_autoencoder("conv", 1, 32, LATENT)
    step = training_step(where, encoder, "mmd", TrainingPlan(BATCH, 10**6, len(train)),
                         decoder=decoder, lam=LAM)  # fmt: skip
    epoch = timed(where, lambda: train_epoch(step, _epoch_batches(train, where.device)))
    if where.device == "cuda":
        epoch()
    return epoch


def _bare_epoch(where, fashion):
    """The same modules, batches, optimizer and loss written as a bare loop, no harness, as a
    callable that returns once the device has finished; on CUDA one epoch has run already."""
    torch.manual_seed(0)
    device = where.device
    train = fashion.train.to(device)
    encoder, decoder = (m.to(device) for m in build_autoencoder("conv", 1, 32, LATENT))
    params = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    prior = regularizers.SpherePrior(LATENT)
    scales = torch.tensor([2.0 * s for s in SCALE_MULTIPLIERS], device=device)  # E||y-y'||^2 = 2

    def epoch():
        total = torch.zeros((), device=device)
        for x in _epoch_batches(train, device):
            z = encoder(x)
            y = prior.sample(len(x), device=device)
            loss = per_image_squared_error(x, decoder(z)) + LAM * mmd_unbiased(z, y, "imq", scales)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(x)
        return float(total) / len(train)

    epoch = timed(where, epoch)
    if device == "cuda":  # lazy CUDA set-up, as the graphed harness
        epoch()
    return epoch


def _first(before, seconds: list, args=()):
    """pedantic's setup: run ``before`` (timed into ``seconds``, not by the benchmark), then
    hand ``args`` to the timed call, so each round compares the two under the same load."""
    def setup():
        start = time.perf_counter()
        before()
        seconds.append(time.perf_counter() - start)
        return args, {}

    return setup


def _record_ratios(benchmark, before_s: list) -> None:
    """extra_info: each round's time over the time of what ran just before it, and their
    median, ``ratio``, which the target reads."""
    ratios = [t / b for t, b in zip(benchmark.stats.stats.data, before_s, strict=True)]
    benchmark.extra_info.update(paired_s=before_s, ratios=ratios, ratio=statistics.median(ratios))


@steps
def test_fashion_epoch_through_the_harness(benchmark, where, fashion):
    """The image task's epoch; on CUDA also replayed as CUDA graphs, the task's default
    there. Each round first runs one epoch of the bare loop on the same device: the target
    reads the median of the per-round ratios harness / bare."""
    tag(benchmark, where, "Fashion-MNIST epoch (conv, B=64, mmd)", step=True,
        role="fashion_epoch", variant="harness")  # fmt: skip
    harness, bare, bare_s = _harness_epoch(where, fashion), _bare_epoch(where, fashion), []
    benchmark.pedantic(harness, setup=_first(bare, bare_s), rounds=ROUNDS, iterations=1)
    _record_ratios(benchmark, bare_s)


@devices
def test_fashion_epoch_bare_torch_loop(benchmark, where, fashion):
    """The bare loop alone (its bar in the figure)."""
    tag(benchmark, where, "Fashion-MNIST epoch (conv, B=64, mmd)", role="fashion_epoch",
        variant="bare")  # fmt: skip
    benchmark.pedantic(_bare_epoch(where, fashion), rounds=ROUNDS, iterations=1)


@pytest.fixture(scope="module")
def swd_sets(fashion):
    """The evaluation's two sets of 10,000 Fashion-MNIST images: the test images (the fixed
    side) and training images in place of the decoded ones."""
    return fashion.test[:10_000], fashion.train[:10_000]


@devices
def test_fashion_image_swd_evaluation(benchmark, where, fashion, swd_sets):
    """An evaluation's image SWD as the image task computes it: 10,000 images against the
    test images' side, which a seed prepares once (``swd_reference``, timed below). Before
    each round one epoch through the harness (the task's default step: graphed on CUDA) runs,
    timed here and not by the benchmark, so that each round gives evaluation / epoch under
    the same load; extra_info's ``ratio`` is the median of those per-round ratios."""
    tag(benchmark, where, "image SWD (Fashion-MNIST, 32x32x1)", role="image_swd_fashion",
        n=10_000)  # fmt: skip
    test, generated = (images.to(where.device) for images in swd_sets)
    reference = swd_reference(test)
    epoch, epoch_s = _harness_epoch(CUDA_GRAPHS if where.device == "cuda" else where, fashion), []
    benchmark.pedantic(timed(where, image_swd_to), setup=_first(epoch, epoch_s, (reference,
                       generated)), rounds=ROUNDS, iterations=1)  # fmt: skip
    _record_ratios(benchmark, epoch_s)


@devices
def test_fashion_image_swd_reference(benchmark, where, swd_sets):
    """The test images' side of the image SWD (projected and sorted), once per seed."""
    tag(benchmark, where, "image SWD (Fashion-MNIST, 32x32x1)",
        role="image_swd_fashion_reference", n=10_000)  # fmt: skip
    test = swd_sets[0].to(where.device)
    benchmark.pedantic(timed(where, swd_reference), args=(test,), rounds=1, iterations=1)
