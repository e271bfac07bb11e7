"""The progress bar's loss, shown without making the host wait for the device.

Reading a device tensor (``float(loss)``) waits until the GPU has computed it, which stalls
the launch of the next steps. Every ``every`` steps ``LossDisplay`` starts a copy of the
step's loss instead: on CUDA a non-blocking copy into pinned host memory followed by an
event, on the CPU a plain copy. The value is shown on a later step, once the event says the
copy has landed, so the bar never waits; a new copy starts only when the last one has been
shown. ``--quiet`` makes no copy at all: nothing is read back until the epoch ends.
"""

import torch
from torch import Tensor


class LossDisplay:
    """``on_step`` for ``train_epoch``: advances ``bar`` and shows a recent loss on it."""

    def __init__(self, bar, every: int):
        self.bar, self.every, self.steps = bar, every, 0
        self.host: Tensor | None = None  # the buffer the copy lands in
        self.ready: torch.cuda.Event | None = None  # None: the CPU, ready once copied
        self.pending = False

    def __call__(self, loss: Tensor) -> None:
        """Advance the bar by one step; show the last copied loss once it has landed; every
        ``every`` steps, when no copy is pending, start copying ``loss``."""
        self.steps += 1
        self.bar.update()
        if self.pending and (self.ready is None or self.ready.query()):
            self.bar.set_postfix(loss=f"{self.host.tolist():.4g}", refresh=False)
            self.pending = False
        if self.steps % self.every == 0 and not self.pending:
            self._start_copy(loss)

    def _start_copy(self, loss: Tensor) -> None:
        cuda = loss.device.type == "cuda"
        if self.host is None:
            self.host = torch.empty((), dtype=loss.dtype, pin_memory=cuda)
            self.ready = torch.cuda.Event() if cuda else None
        self.host.copy_(loss.detach(), non_blocking=cuda)
        if self.ready is not None:
            self.ready.record()
        self.pending = True
