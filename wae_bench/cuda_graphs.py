"""Replay the training step as CUDA graphs: one launch per step instead of hundreds.

A step of the suite is hundreds of small kernels; launched one by one from Python it leaves
an H100 idle most of the time. ``GraphedStep`` records the step once per batch shape (the
last batch of an epoch is usually smaller) with ``torch.cuda.graph`` and then replays it:
the batch is copied into the recorded input and the whole step (forward, loss, backward,
Adam, ``after_step``) runs as one graph. It is the same ``TrainingStep`` that runs eagerly.

Per shape, the first ``WARMUP_STEPS`` steps run eagerly on a side stream (lazy
initializations: cuBLAS workspaces, autotuning), the next one is captured and replayed. The
last warm-up step runs under ``torch.cuda.set_sync_debug_mode("warn")``: a step that
synchronizes with the host cannot be captured, so it is never tried.
Recording executes nothing, so every step trains exactly once. What a step keeps between
steps lives in tensors that are updated in place (parameters, Adam's moments, step count
and learning rate, MoCA's queue), which is what replaying needs. Random numbers drawn in a
step (prior samples, directions) come from the default CUDA generator, whose offset a
replay advances like the eager kernels would.

A regularizer that does not declare ``capturable = True`` (a plug-in written without
graphs in mind) keeps the eager step, with one warning; so does a step that synchronizes
or whose recording fails. Neither gives a wrong result: a failed recording puts back grad
mode, the stream, the random state and every tensor of the run (``snapshot.py``), so the
eager steps continue exactly as if no recording had been tried.
"""

import warnings
from collections.abc import Callable

import torch
from torch import Tensor

from .snapshot import attempt

WARMUP_STEPS = 3


class GraphedStep:
    """``step`` replayed as one CUDA graph per batch shape (see the module docstring)."""

    def __init__(self, step: Callable[[Tensor], Tensor], name: str):
        self.step, self.name = step, name
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, Tensor, Tensor]] = {}
        self.eager_steps: dict[tuple, int] = {}
        self.failed = False
        self.side_stream: torch.cuda.Stream | None = None

    def train(self) -> None:
        """Put the step's modules in training mode (before an epoch)."""
        self.step.train()

    def __call__(self, x: Tensor) -> Tensor:
        """One training step on ``x``; returns its loss. Replays the graph recorded for x's shape,
        else warms up or records it; eager once recording has failed."""
        shape = tuple(x.shape)
        if shape in self.graphs:
            graph, static_x, static_loss = self.graphs[shape]
            static_x.copy_(x)
            graph.replay()
            return static_loss.clone()  # the next replay overwrites static_loss
        if self.failed:
            return self.step(x)
        if self.eager_steps.get(shape, 0) < WARMUP_STEPS:
            self.eager_steps[shape] = self.eager_steps.get(shape, 0) + 1
            if self.eager_steps[shape] < WARMUP_STEPS:
                return self._warmup(x)
            return self._last_warmup(x)
        recorded = self._record(x)
        if recorded is None:
            return self.step(x)
        graph, static_x, static_loss = self.graphs[shape] = recorded
        graph.replay()
        return static_loss.clone()

    def _warmup(self, x: Tensor) -> Tensor:
        """One eager step on a side stream (what recording needs of the steps before it)."""
        if self.side_stream is None:
            self.side_stream = torch.cuda.Stream()
        self.side_stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side_stream):
            loss = self.step(x)
        torch.cuda.current_stream().wait_stream(self.side_stream)
        return loss

    def _last_warmup(self, x: Tensor) -> Tensor:
        """A warm-up step that watches for host synchronizations (which rule out graphs)."""
        mode = torch.cuda.get_sync_debug_mode()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                loss = self._warmup(x)
            finally:
                torch.cuda.set_sync_debug_mode(mode)
        syncs = [str(w.message) for w in caught if "synchroniz" in str(w.message)]
        if syncs:
            self._give_up(f"it synchronizes with the host ({syncs[0].splitlines()[0]})")
        return loss

    def _record(self, x: Tensor):
        """(graph, its input, its loss) for x's shape; None (and one warning) on failure,
        with grad mode, stream, random state and the run's tensors as before the attempt."""
        static_x = x.clone()
        graph = torch.cuda.CUDAGraph()

        def capture() -> Tensor:
            with torch.cuda.graph(graph):
                return self.step(static_x)

        static_loss, error = attempt(capture, self.step)
        if error is not None:
            self._give_up(f"{type(error).__name__}: {str(error).splitlines()[0]}")
            return None
        return graph, static_x, static_loss

    def _give_up(self, why: str) -> None:
        """Train eagerly from now on, saying why once."""
        self.failed = True
        warnings.warn(f"{self.name}: the training step is not captured as a CUDA graph ({why});"
                      " it runs eagerly", stacklevel=4)  # fmt: skip


def training_step(step, *, device: torch.device, graphs: bool, regularizer, name: str):
    """``step`` as it runs on ``device``: graphed on CUDA when ``graphs`` and the method
    (registered as ``name``) allows it, eager otherwise (with a warning when only the method
    stands in the way; Python shows it once per command)."""
    if not graphs or device.type != "cuda":
        return step
    if not getattr(regularizer, "capturable", False):
        warnings.warn(
            f"regularizer {name!r} does not declare capturable = True, so its steps run "
            "eagerly (see Regularizer.capturable)",
            stacklevel=2,
        )
        return step
    return GraphedStep(step, name)
