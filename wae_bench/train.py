"""The training step every task shares; it never branches on a method's name.

    loss = recon(x, decoder(z)) + lam * reg(z, x),   z = encoder(x)
In the latent task there is no decoder and the loss is the penalty alone.
"""

import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from regularizers import Regularizer

from .errors import Diverged


def per_image_squared_error(x: Tensor, x_hat: Tensor) -> Tensor:
    """Mean over the batch of the per-sample sum of squared errors (the WAE convention)."""
    return (x - x_hat).pow(2).flatten(1).sum(1).mean()


def train_epoch(
    encoder: nn.Module,
    regularizer: Regularizer,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[Tensor],
    *,
    decoder: nn.Module | None = None,
    lam: float = 1.0,
    on_step: Callable[[Tensor], None] | None = None,
    amp_dtype: torch.dtype | None = None,
) -> float:
    """One pass over ``batches``; returns the sample-weighted mean loss.

    With lam = 0 the regularizer is skipped entirely: a plain (deterministic) autoencoder.

    ``on_step`` receives each step's detached loss (e.g. for a progress bar); it decides
    itself when to synchronize with the device. ``amp_dtype`` (e.g. torch.bfloat16) runs the
    encoder and decoder under autocast; the regularizer and the loss stay in float32.
    """
    encoder.train()
    regularizer.train()
    if decoder is not None:
        decoder.train()
    total, count = None, 0
    for x in batches:
        with torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            z = encoder(x)
            x_hat = decoder(z) if decoder is not None else None
        z = z.float()
        loss = lam * regularizer(z, x) if lam else z.new_zeros(())
        if x_hat is not None:
            loss = loss + per_image_squared_error(x, x_hat.float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if lam:
            with torch.no_grad():  # the grad mode Regularizer.after_step documents
                regularizer.after_step(z.detach(), x)
        if on_step is not None:
            on_step(loss.detach())
        weighted = loss.detach() * len(x)
        total = weighted if total is None else total + weighted
        count += len(x)
    return float(total) / count  # the one host synchronization of the epoch


def check_finite(loss: float, run: str, epoch: int) -> None:
    """Raise ``Diverged`` when an epoch's mean loss is NaN or infinite."""
    if not math.isfinite(loss):
        raise Diverged(f"{run}: loss became {loss} in epoch {epoch}")


def training_state(modules: dict[str, nn.Module], optimizer, batch_rng: torch.Generator) -> dict:
    """Everything that makes a resumed run continue exactly: weights, optimizer, RNG states."""
    return {
        "modules": {name: module.state_dict() for name, module in modules.items()},
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "batch_rng": batch_rng.get_state(),
    }


def load_training_state(state: dict, modules: dict[str, nn.Module], optimizer, batch_rng) -> None:
    """Restore what ``training_state`` saved (the modules, optimizer and RNGs, in place)."""
    for name, module in modules.items():
        module.load_state_dict(state["modules"][name])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
    batch_rng.set_state(state["batch_rng"])
    if state["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
