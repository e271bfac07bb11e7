"""The one recipe from a model set and a method to a training step: build, bind, step.

The harness's runs, the tests, the benchmarks and the GPU check all train through
``assemble``: the networks go to the device, the method is built from its hyper-parameters and
bound to the encoder, prior and plan (``methods.bind``: bad values are one-line errors), one
Adam optimizer takes every network parameter, and the shared ``TrainingStep`` minimizes
    recon(x, decoder(encoder(x))) + lam * regularizer(encoder(x), x)
(the regularizer alone without a decoder), replayed as a CUDA graph where ``graphs`` allows.
"""

from dataclasses import dataclass

import torch
from torch import nn

from regularizers import Prior, Regularizer, TrainingPlan
from regularizers.optim import Adam

from . import methods
from .cuda_graphs import training_step
from .step import TrainingStep

AMP_DTYPES = {"none": None, "fp32": None, "bf16": torch.bfloat16}
PLAIN = "plain"  # a plain autoencoder: mmd bound but never called (lam = 0), for comparisons


@dataclass
class Assembled:
    """What ``assemble`` made: the networks (on the device), the bound regularizer, the
    optimizer over the networks' parameters, and the step to call once per batch."""

    models: dict[str, nn.Module]
    regularizer: Regularizer
    optimizer: Adam
    step: TrainingStep  # or the GraphedStep that replays it


def assemble(models: dict[str, nn.Module], method: str | Regularizer, params: dict | None = None,
             *, prior: Prior, plan: TrainingPlan, lr: float = 1e-3, lam: float = 1.0,
             amp: str = "none", device: torch.device | str = "cpu", graphs: bool = False,
             compile: bool = False) -> Assembled:  # fmt: skip
    """Bind ``method`` (a registered name with ``params``, or an unbound instance) to
    ``models["encoder"]`` and return the training step of ``models`` on ``device``.

    ``method`` PLAIN trains the autoencoder alone (mmd bound, lam = 0). ``amp``: "none"/"fp32"
    or "bf16" (autocast of the networks); ``graphs``: replay the step as a CUDA graph on CUDA
    when the method is capturable; ``compile``: ``torch.compile`` the networks (after binding:
    MoCA's key encoder is an eager copy)."""
    if method == PLAIN:
        method, lam = "mmd", 0.0
    device = torch.device(device)
    models = {name: model.to(device) for name, model in models.items()}
    encoder = models["encoder"]
    regularizer = methods.bind(method, params or {}, encoder=encoder, prior=prior, plan=plan)
    regularizer.to(device)
    if compile:
        for model in models.values():
            model.compile()
    optimizer = Adam([p for model in models.values() for p in model.parameters()], lr=lr)
    step = TrainingStep(encoder, regularizer, optimizer, decoder=models.get("decoder"), lam=lam,
                        amp_dtype=AMP_DTYPES[amp])  # fmt: skip
    step = training_step(step, device=device, graphs=graphs, regularizer=regularizer,
                         name=regularizer.name)  # fmt: skip
    return Assembled(models, regularizer, optimizer, step)
