"""The two tasks' training steps built by the recipe, and a spy for host reads."""

from torch.utils._python_dispatch import TorchDispatchMode

from regularizers import SpherePrior, TrainingPlan
from wae_bench.models import MLPEncoder, build_autoencoder
from wae_bench.recipe import assemble
from wae_bench.step import TrainingStep

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
    """The latent task's eager step (MLP encoder, sphere prior) with ``method`` bound."""
    return assemble({"encoder": MLPEncoder(100, 256, 32)}, method, prior=SpherePrior(32),
                    plan=TrainingPlan(batch, 1000, 1000), device=device).step  # fmt: skip


def image_step(method: str, lam: float, device="cpu", amp: str = "none") -> TrainingStep:
    """The image task's eager step (conv autoencoder with BatchNorm on 16x16 digits-like
    images); ``amp``: "none" or "bf16" (autocast of the networks)."""
    encoder, decoder = build_autoencoder("conv", 1, 16, 8)
    return assemble({"encoder": encoder, "decoder": decoder}, method, prior=SpherePrior(8),
                    plan=TrainingPlan(32, 1000, 1000), lam=lam, amp=amp,
                    device=device).step  # fmt: skip
