"""Sinkhorn AE (Patrini et al. 2020), computed by geomloss.

Debiased Sinkhorn divergence between codes and prior samples,
    S_eps(a, b) = OT_eps(a, b) - OT_eps(a, a) / 2 - OT_eps(b, b) / 2,
with cost |x - y|^p / p and entropic regularization eps = blur^p, solved by geomloss's
``SamplesLoss("sinkhorn", ...)`` with eps-annealing ratio ``scaling``.
Defaults: p = 2, blur = 0.05, scaling = 0.9. Backend "auto": geomloss's own choice (KeOps
for large batches) when pykeops is installed, else "tensorized" at every batch size.

The eps-scaling starts from diameter^p. Left to itself geomloss measures the diameter of
each batch, a host read on every call; here it is the prior's (2 on the unit sphere, where
the codes live too), so the step never waits for the device. Set ``diameter`` when codes
can lie far outside the prior's support (an unnormalized encoder and a Gaussian prior).
"""

from geomloss import SamplesLoss
from torch import Tensor

from . import _checks
from .base import Regularizer, register
from .search import Range

BACKENDS = ("auto", "tensorized", "online", "multiscale")


def keops_available() -> bool:
    """Whether pykeops imports; geomloss's "auto" picks KeOps for large batches without it."""
    try:
        import pykeops  # noqa: F401
    except ImportError:
        return False
    return True


@register
class Sinkhorn(Regularizer):
    """Debiased Sinkhorn divergence to as many prior samples as codes in the batch.

    Args:
        blur: entropic length scale (same unit as the codes); eps = blur^p.
        scaling: eps-annealing ratio in (0, 1); closer to 1 is slower and more accurate.
        p: cost exponent, 1 or 2.
        backend: geomloss backend, one of "auto", "tensorized", "online", "multiscale".
        diameter: largest distance between points the eps-scaling starts from; None takes
            the prior's ``diameter``.
    """

    name = "sinkhorn"
    capturable = True
    search_space = {"blur": Range(0.003, 3.0, "log", per="rms_distance", high_limit=(
                        "far above the codes' distances the debiased divergence reaches its "
                        "large-blur limit, half the squared MMD of the kernel -cost (Feydy et "
                        "al. 2019, Thm 1): for p = 2, ||mean(z) - mean(prior)||^2 / 2 whatever "
                        "the blur")),
                    "scaling": Range(0.5, 0.95)}
    paper = ("Patrini et al., UAI 2019 (Sinkhorn AutoEncoders); Feydy et al., AISTATS 2019 "
             "(geomloss)")
    prior_assumption = "any prior it can sample (B prior samples per step)"

    def __init__(self, blur: float = 0.05, scaling: float = 0.9, p: int = 2, backend: str = "auto",
                 diameter: float | None = None):  # fmt: skip
        super().__init__()
        self.blur = _checks.positive_float("sinkhorn.blur", blur)
        self.scaling = _checks.open_unit_interval("sinkhorn.scaling", scaling)
        self.p = _checks.one_of("sinkhorn.p", p, (1, 2))
        self.backend = _checks.one_of("sinkhorn.backend", backend, BACKENDS)
        if self.backend in ("online", "multiscale") and not keops_available():
            raise ValueError(f"sinkhorn.backend {self.backend!r} needs pykeops, which does not "
                             "import here; use 'tensorized' or 'auto', or install pykeops")
        self.diameter = (
            None if diameter is None else _checks.positive_float("sinkhorn.diameter", diameter)
        )
        self.loss = self._samples_loss(self.diameter)
        # KeOps kernels are launched outside torch: only the tensorized solver is captured
        self.capturable = self.loss.backend == "tensorized"

    def _samples_loss(self, diameter: float | None) -> SamplesLoss:
        backend = self.backend
        if backend == "auto" and not keops_available():
            backend = "tensorized"
        return SamplesLoss("sinkhorn", p=self.p, blur=self.blur, scaling=self.scaling,
                           debias=True, backend=backend, diameter=diameter)  # fmt: skip

    def bind(self, encoder, prior, plan):
        """Rebuild the geomloss loss with its eps-scaling starting from ``diameter``, or the
        prior's diameter when None."""
        super().bind(encoder, prior, plan)
        self.loss = self._samples_loss(self.diameter or prior.diameter)

    def resolved(self) -> dict:
        """``hparams`` with the diameter the eps-scaling starts from (set by ``bind``)."""
        return {**self.hparams(), "diameter": self.loss.diameter}

    def forward(self, z: Tensor, x: Tensor) -> Tensor:
        """S_eps between z and len(z) fresh prior samples, both with uniform weights 1 / len(z)."""
        y = self.prior.sample(len(z), device=z.device)
        # uniform weights made on the codes' device: geomloss's own come from the CPU, a
        # copy (and on CUDA a synchronization) at every call; the same values bit for bit
        weights = z.new_full((len(z),), 1.0 / len(z))
        return self.loss(weights, z, weights, y)
