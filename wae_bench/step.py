"""The training step every task shares; it never branches on a method's name.

    loss = recon(x, decoder(z)) + lam * regularizer(z, x),   z = encoder(x)
In the latent task there is no decoder and the loss is the penalty alone.

A step (forward, loss, backward, Adam, ``after_step``) makes no host read and has the
batch's shape only, so on CUDA it is captured and replayed as a graph (``cuda_graphs.py``);
``train_epoch`` reads the device once, for the epoch's mean loss.
"""

import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from regularizers import Regularizer
from regularizers.base import network_autocast
from regularizers.optim import Adam

from .errors import Diverged


def per_image_squared_error(x: Tensor, x_hat: Tensor) -> Tensor:
    """Mean over the batch of the per-sample sum of squared errors (the WAE convention)."""
    return (x - x_hat).pow(2).flatten(1).sum(1).mean()


class TrainingStep:
    """One optimization step on a batch ``x``; returns its loss (a device tensor).

    With lam = 0 the regularizer is skipped entirely: a plain (deterministic) autoencoder.
    ``amp_dtype`` (e.g. torch.bfloat16) runs the encoder and decoder under autocast, and
    so does a network the regularizer runs itself (MoCA's key encoder); the regularizer's
    arithmetic, its state and the loss stay in float32.
    """

    def __init__(self, encoder: nn.Module, regularizer: Regularizer, optimizer: Adam, *,
                 decoder: nn.Module | None = None, lam: float = 1.0,
                 amp_dtype: torch.dtype | None = None):  # fmt: skip
        self.encoder, self.regularizer, self.optimizer = encoder, regularizer, optimizer
        self.decoder, self.lam, self.amp_dtype = decoder, lam, amp_dtype
        regularizer.amp_dtype = amp_dtype  # for networks it runs itself (MoCA's key encoder)

    def train(self) -> None:
        """Put every module in training mode (before an epoch)."""
        for module in (self.encoder, self.regularizer, self.decoder):
            if module is not None:
                module.train()

    def __call__(self, x: Tensor) -> Tensor:
        """One step on ``x``: loss = recon + lam * regularizer(z, x) (no penalty at lam = 0),
        backward, Adam, then ``after_step`` on the detached codes; returns the detached loss."""
        with network_autocast(x.device.type, self.amp_dtype):
            z = self.encoder(x)
            x_hat = self.decoder(z) if self.decoder is not None else None
        z = z.float()
        loss = self.lam * self.regularizer(z, x) if self.lam else z.new_zeros(())
        if x_hat is not None:
            loss = loss + per_image_squared_error(x, x_hat.float())
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        if self.lam:
            with torch.no_grad():  # the grad mode Regularizer.after_step documents
                self.regularizer.after_step(z.detach(), x)
        return loss.detach()


def train_epoch(step: Callable[[Tensor], Tensor], batches: Iterable[Tensor], *,
                on_step: Callable[[Tensor], None] | None = None) -> float:  # fmt: skip
    """One pass of ``step`` over ``batches``; returns the sample-weighted mean loss.

    ``on_step`` receives each step's loss (e.g. for a progress bar); it decides itself when
    to wait for the device.
    """
    total, count = None, 0
    for x in batches:
        loss = step(x)
        if on_step is not None:
            on_step(loss)
        weighted = loss * len(x)
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
