"""The training step: no host reads (so CUDA graphs can replay it), one code path for eager
and graphed steps, Adam equal to torch.optim.Adam, and on CUDA graphed == eager."""

import warnings

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import regularizers
from regularizers import Regularizer, SpherePrior, TrainingPlan
from regularizers.optim import Adam
from wae_bench.graphs import GraphedStep, training_step
from wae_bench.models import MLPEncoder, build_autoencoder
from wae_bench.train import TrainingStep, train_epoch

from .conftest import registered

BUILT_IN = regularizers.available()  # every registered method
# ops that make the host wait for the device: a scalar read (.item(), float(), bool(), a
# Python `if` on a tensor) or an output shape that depends on the data
HOST_READS = ("aten._local_scalar_dense", "aten.nonzero", "aten.masked_select", "aten.unique")


class HostReadSpy(TorchDispatchMode):
    """Records every op of HOST_READS dispatched while active."""

    def __init__(self):
        super().__init__()
        self.reads: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if str(func).startswith(HOST_READS):
            self.reads.append(str(func))
        return func(*args, **(kwargs or {}))


def latent_step(method: str, device="cpu", batch: int = 64) -> TrainingStep:
    """The latent task's step (MLP encoder, sphere prior) with ``method`` bound."""
    encoder = MLPEncoder(100, 256, 32).to(device)
    reg = regularizers.build(method)
    reg.bind(encoder, SpherePrior(32), TrainingPlan(batch, 1000, 1000))
    reg.to(device)
    return TrainingStep(encoder, reg, Adam(encoder.parameters(), lr=1e-3))


def image_step(method: str, lam: float, device="cpu", amp_dtype=None) -> TrainingStep:
    """The image task's step (conv autoencoder with BatchNorm on 16x16 digits-like images)."""
    encoder, decoder = (m.to(device) for m in build_autoencoder("conv", 1, 16, 8))
    reg = regularizers.build(method)
    reg.bind(encoder, SpherePrior(8), TrainingPlan(32, 1000, 1000))
    reg.to(device)
    params = [*encoder.parameters(), *decoder.parameters()]
    return TrainingStep(encoder, reg, Adam(params, lr=1e-3), decoder=decoder, lam=lam,
                        amp_dtype=amp_dtype)  # fmt: skip


@pytest.mark.parametrize("method", BUILT_IN)
def test_latent_step_makes_no_host_read(method):
    step = latent_step(method)
    x = torch.randn(64, 100)
    step(x)  # the first step of a run may initialize lazily
    with HostReadSpy() as spy:
        for _ in range(2):
            step(x)
    assert spy.reads == []


@pytest.mark.parametrize(("method", "lam"), [("moca", 1.0), ("mmd", 10.0), ("gan", 1.0),
                                             ("mmd", 0.0)])  # fmt: skip
def test_image_step_makes_no_host_read(method, lam):
    step = image_step(method, lam)
    x = torch.rand(32, 1, 16, 16)
    step(x)
    with HostReadSpy() as spy:
        step(x)
    assert spy.reads == []


def test_the_spy_sees_a_host_read():
    """A method that reads a scalar on every step is caught: the test above can fail."""

    class Reads(Regularizer):
        name = "reads-a-scalar"

        def forward(self, z, x):
            scale = float(z.detach().norm())  # a host read
            return z.pow(2).mean() * scale

    encoder = MLPEncoder(100, 256, 32)
    reg = Reads()
    reg.bind(encoder, SpherePrior(32), TrainingPlan(64, 10, 100))
    step = TrainingStep(encoder, reg, Adam(encoder.parameters()))
    with HostReadSpy() as spy:
        step(torch.randn(64, 100))
    assert spy.reads == ["aten._local_scalar_dense.default"]


def test_adam_equals_torch_adam_bit_for_bit_on_cpu():
    torch.manual_seed(0)
    ours, theirs = MLPEncoder(20, 32, 8), MLPEncoder(20, 32, 8)
    theirs.load_state_dict(ours.state_dict())
    adam = Adam(ours.parameters(), lr=1e-2, betas=(0.5, 0.999))
    reference = torch.optim.Adam(theirs.parameters(), lr=1e-2, betas=(0.5, 0.999))
    for t in range(30):
        x = torch.randn(16, 20)
        for net, opt in ((ours, adam), (theirs, reference)):
            opt.zero_grad()
            net(x).pow(3).sum().backward()
            opt.step()
        if t == 10:  # a new learning rate, as at an epoch boundary
            adam.set_lr(3e-3)
            reference.param_groups[0]["lr"] = 3e-3
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)


def test_adam_state_round_trip_continues_identically():
    torch.manual_seed(0)
    net = MLPEncoder(20, 32, 8)
    adam = Adam(net.parameters(), lr=1e-2)
    x = torch.randn(16, 20)

    def step(network, optimizer):
        optimizer.zero_grad()
        network(x).pow(2).sum().backward()
        optimizer.step()

    step(net, adam)
    twin = MLPEncoder(20, 32, 8)
    twin.load_state_dict(net.state_dict())
    twin_adam = Adam(twin.parameters(), lr=1.0)
    twin_adam.load_state_dict(adam.state_dict())
    assert twin_adam.lr.item() == 1e-2 and twin_adam.steps.item() == 1
    step(net, adam)
    step(twin, twin_adam)
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="optimizer state has 4 parameters, not 1"):
        Adam([torch.zeros(2, requires_grad=True)]).load_state_dict(adam.state_dict())
    torch_state = torch.optim.Adam(net.parameters()).state_dict()
    with pytest.raises(ValueError, match="not this Adam's"):
        adam.load_state_dict(torch_state)


def test_graphs_wrap_the_same_step_only_on_cuda():
    """One code path: the graphed step replays the very TrainingStep that runs eagerly."""
    step = latent_step("moca")
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert training_step(step, device=cpu, graphs=True, regularizer=step.regularizer,
                         name="r") is step  # fmt: skip
    assert training_step(step, device=cuda, graphs=False, regularizer=step.regularizer,
                         name="r") is step  # fmt: skip
    graphed = training_step(step, device=cuda, graphs=True, regularizer=step.regularizer, name="r")
    assert isinstance(graphed, GraphedStep) and graphed.step is step


def test_a_plugin_that_is_not_capturable_runs_eagerly_with_one_warning():
    class Plugin(Regularizer):
        name = "plugin-eager"

        def forward(self, z, x):
            return z.pow(2).mean()

    with registered(Plugin):
        step = latent_step("plugin-eager")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            chosen = training_step(step, device=torch.device("cuda"), graphs=True,
                                   regularizer=step.regularizer, name="plugin")  # fmt: skip
    assert chosen is step
    assert len(caught) == 1 and "does not declare capturable = True" in str(caught[0].message)


def test_epoch_loss_weights_the_smaller_last_batch_by_its_size():
    step = latent_step("swd")
    losses = []
    data = torch.randn(100, 100)
    mean = train_epoch(step, data.split(64), on_step=lambda loss: losses.append(loss.item()))
    assert len(losses) == 2
    assert mean == pytest.approx((64 * losses[0] + 36 * losses[1]) / 100, rel=1e-6)


cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def trained_state(step: TrainingStep) -> list[torch.Tensor]:
    """Every tensor a step updates: the networks' and the regularizer's (GAN critic, MoCA's
    key encoder and queue) parameters and buffers."""
    modules = [step.encoder, step.regularizer] + ([step.decoder] if step.decoder else [])
    return [t.detach().clone() for m in modules for t in (*m.parameters(), *m.buffers())]


def assert_graphed_equals_eager(make_step, batches, name):
    """Same seed, same batches: graphed losses and trained state equal the eager ones, and
    the graphed run really replayed graphs (one per batch shape)."""
    runs = []
    for graphed in (False, True):
        torch.manual_seed(0)
        step = make_step()
        run = GraphedStep(step, name) if graphed else step
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a fallback to eager fails the test
            losses = torch.stack([run(x) for x in batches])
        runs.append((losses, trained_state(step)))
    assert len(run.graphs) == len({tuple(x.shape) for x in batches})
    (eager_losses, eager_state), (graph_losses, graph_state) = runs
    torch.testing.assert_close(graph_losses, eager_losses, rtol=1e-4, atol=1e-5)
    for a, b in zip(graph_state, eager_state, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@cuda_only
@pytest.mark.parametrize("method", BUILT_IN)
def test_graphed_latent_steps_equal_eager_steps_on_cuda(method):
    """Two epochs of 8 full batches and a smaller last one: past every warm-up."""
    data = torch.randn(8 * 64 + 40, 100, device="cuda")
    batches = [x for _ in range(5) for x in data.split(64)]
    assert_graphed_equals_eager(lambda: latent_step(method, device="cuda"), batches, method)


@cuda_only
@pytest.mark.parametrize(("method", "lam"), [("moca", 1.0), ("mmd", 10.0), ("gan", 1.0),
                                             ("mmd", 0.0)])  # fmt: skip
@pytest.mark.parametrize("amp", [None, torch.bfloat16])
def test_graphed_image_steps_equal_eager_steps_on_cuda(method, lam, amp):
    """The conv autoencoder (BatchNorm), fp32 and bf16 autocast."""
    data = torch.rand(6 * 32, 1, 16, 16, device="cuda")
    batches = list(data.split(32))
    assert_graphed_equals_eager(lambda: image_step(method, lam, "cuda", amp), batches, method)


@cuda_only
def test_a_synchronizing_step_is_never_captured_and_trains_eagerly():
    class Reads(Regularizer):
        name = "reads-on-cuda"
        capturable = True  # a wrong promise: the warm-up's sync check catches it

        def forward(self, z, x):
            return z.pow(2).mean() * float(z.detach().norm())

    def make():
        encoder = MLPEncoder(100, 256, 32).cuda()
        reg = Reads()
        reg.bind(encoder, SpherePrior(32), TrainingPlan(64, 10, 100))
        return TrainingStep(encoder, reg, Adam(encoder.parameters()))

    x = torch.randn(64, 100, device="cuda")
    torch.manual_seed(0)
    eager = make()
    eager_losses = [eager(x) for _ in range(6)]
    torch.manual_seed(0)
    graphed = GraphedStep(make(), "reads-on-cuda")
    with pytest.warns(UserWarning, match="synchronizes with the host"):
        graphed_losses = [graphed(x) for _ in range(6)]
    assert not graphed.graphs and graphed.failed
    torch.testing.assert_close(torch.stack(graphed_losses), torch.stack(eager_losses))


@cuda_only
@pytest.mark.parametrize("method", BUILT_IN)
def test_replayed_step_never_synchronizes(method):
    torch.manual_seed(0)
    graphed = GraphedStep(latent_step(method, device="cuda"), method)
    x = torch.randn(64, 100, device="cuda")
    for _ in range(5):  # warm-up, then the recording
        graphed(x)
    assert graphed.graphs
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            graphed(x)
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_no_graphs_flag_is_recorded_and_changes_nothing_on_cpu(tmp_path):
    """Graphs are a CUDA matter: on the CPU `--no-graphs` gives the same rows."""
    import json

    from wae_bench.cli import main

    args = ["latent", "--methods", "moca,sinkhorn", "--epochs", "2", "--points", "96",
            "--batch-size", "32", "--quiet"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "graphs")]) == 0
    assert main([*args, "--no-graphs", "--out", str(tmp_path / "eager")]) == 0
    config = json.loads((tmp_path / "eager" / "config.json").read_text())["config"]
    assert config["graphs"] is False

    def rows(run):
        lines = (tmp_path / run / "curves.csv").read_text().splitlines()
        seconds = lines[0].split(",").index("seconds")
        return [[v for i, v in enumerate(line.split(",")) if i != seconds] for line in lines]

    assert rows("graphs") == rows("eager")
