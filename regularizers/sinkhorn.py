"""Sinkhorn AE (Patrini et al. 2020, SPEC section 2), computed by geomloss.

Debiased Sinkhorn divergence between codes and prior samples,
    S_eps(a, b) = OT_eps(a, b) - OT_eps(a, a) / 2 - OT_eps(b, b) / 2,
with cost |x - y|^p / p and entropic regularization eps = blur^p, solved by geomloss's
``SamplesLoss("sinkhorn", ...)`` with eps-annealing ratio ``scaling``.
Defaults: p = 2, blur = 0.05, scaling = 0.9. Backend "auto": geomloss's own choice (KeOps
for large batches) when pykeops is installed, else "tensorized" at every batch size.
"""

from geomloss import SamplesLoss
from torch import Tensor

from . import _checks
from .base import Regularizer, register

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
    """

    name = "sinkhorn"

    def __init__(self, blur: float = 0.05, scaling: float = 0.9, p: int = 2, backend: str = "auto"):
        super().__init__()
        self.blur = _checks.positive_float("sinkhorn.blur", blur)
        self.scaling = _checks.open_unit_interval("sinkhorn.scaling", scaling)
        self.p = _checks.one_of("sinkhorn.p", p, (1, 2))
        self.backend = _checks.one_of("sinkhorn.backend", backend, BACKENDS)
        if backend == "auto" and not keops_available():
            backend = "tensorized"
        self.loss = SamplesLoss(
            "sinkhorn", p=self.p, blur=self.blur, scaling=self.scaling, debias=True, backend=backend
        )

    def forward(self, z: Tensor, x: Tensor) -> Tensor:
        y = self.prior.sample(len(z), device=z.device)
        return self.loss(z, y)
