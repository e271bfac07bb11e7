"""Synthetic latent matching (paper Sec. 4.1, left of Fig. 2).

No decoder: an MLP encoder maps `points` standard-normal vectors of R^data_dim to codes and
only the regularizer is minimized. After every epoch (and before training, epoch 0) the
latent SWD between the codes of all points and one fixed set of as many prior samples is
measured along fixed random directions; the noise floor is the same distance between two
independent prior sets. For a given seed every method sees the same data, initial encoder,
batch order, evaluation samples and directions.
"""

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

import regularizers
from regularizers.swd import random_directions

from ... import folders
from ...config import RunConfig, check_list, check_positive_int
from ...errors import UsageError
from ...metrics import sorted_projections, swd_to_sorted
from ...models import MLPEncoder
from ..base import About, Context, ResultTable, Task


@dataclass(kw_only=True)
class LatentConfig(RunConfig):
    """The synthetic latent-matching task."""

    POSITIVE_INTS = (*RunConfig.POSITIVE_INTS, "points", "data_dim", "hidden_dim",
                     "eval_directions")  # fmt: skip

    methods: list[str] = field(default_factory=lambda: ["moca", "mmd", "swd", "sinkhorn"])
    epochs: int = 80
    points: int = 1000
    data_dim: int = 100
    hidden_dim: int = 256
    prior: str = "sphere"
    eval_directions: int = 1000
    latent_dims: list[int] = field(default_factory=list)  # a dimension study (study.py)
    batch_sizes: list[int] = field(default_factory=list)

    def check(self) -> None:
        """Study lists, batch sizes within the points, and the prior name are valid."""
        for name in ("latent_dims", "batch_sizes"):
            values = getattr(self, name)
            if values:
                check_list(name, values, int)
                for value in values:
                    check_positive_int(name, value)
        for size in self.batch_sizes:
            if size > self.points:
                raise UsageError(
                    f"batch size {size} exceeds the {self.points} data points; "
                    "lower --batch-sizes or raise --points"
                )
        if self.batch_size > self.points:
            raise UsageError(
                f"batch_size {self.batch_size} exceeds the {self.points} data points; "
                "lower --batch-size or raise --points"
            )
        if self.prior not in regularizers.priors.PRIORS:
            raise UsageError(f"unknown prior {self.prior!r}; choose sphere or gaussian")

    @classmethod
    def add_arguments(cls, parser) -> None:
        """--points, --data-dim, --prior, the dimension study's lists and the other latent flags."""
        parser.add_argument("--points", type=int, help="number of data points (default 1000)")
        parser.add_argument("--data-dim", type=int, help="data dimension (default 100)")
        parser.add_argument("--hidden-dim", type=int, help="MLP hidden width (default 256)")
        parser.add_argument("--prior", choices=["sphere", "gaussian"],
                            help="latent prior (default sphere)")  # fmt: skip
        parser.add_argument("--eval-directions", type=int,
                            help="directions of the evaluation SWD (1000)")  # fmt: skip
        parser.add_argument("--latent-dims", type=_int_list, metavar="D1,D2",
                            help="a dimension study: one run per latent dimension")  # fmt: skip
        parser.add_argument("--batch-sizes", type=_int_list, metavar="B1,B2",
                            help="with --latent-dims: also one run per batch size")  # fmt: skip

    def prefers_gpu(self) -> bool:
        """No, for every setting: this small MLP (100 -> 256 -> 128, batch 64) is launch-bound.

        Measured on an H100 before the training step was captured as a CUDA graph (not
        committed): a step took about 4.4 ms on the GPU against 1.1 ms on a 2-core CPU. To be
        revisited when the graph-captured step is measured; ``--device cuda`` still runs it
        on the GPU.
        """
        return False

    def sub_runs(self) -> dict[str, "LatentConfig"]:
        """The dimension study's runs, one per (latent dimension, batch size) (``study``)."""
        if not (self.latent_dims or self.batch_sizes):
            return {}
        from . import study

        return study.sub_configs(self)


@dataclass
class Fixtures:
    """Everything a seed fixes for all methods alike."""

    data: Tensor  # points x data_dim
    prior_projections: Tensor  # points x eval_directions: the evaluation prior set's, sorted
    directions: Tensor  # latent_dim x eval_directions
    noise_floor: float


def make_fixtures(cfg: LatentConfig, seed: int, device: torch.device) -> Fixtures:
    """Data, evaluation prior set, directions and noise floor, from the seed alone."""
    gen = torch.Generator().manual_seed(seed)
    prior = regularizers.build_prior(cfg.prior, cfg.latent_dim)
    data = torch.randn(cfg.points, cfg.data_dim, generator=gen)
    eval_prior = prior.sample(cfg.points, generator=gen)
    other_prior = prior.sample(cfg.points, generator=gen)
    directions = random_directions(cfg.latent_dim, cfg.eval_directions, generator=gen)
    projections = sorted_projections(eval_prior, directions)  # once, on the CPU for any device
    floor = swd_to_sorted(other_prior, projections, directions)
    return Fixtures(data.to(device), projections.to(device), directions.to(device), floor)


def batches(data: Tensor, batch_size: int, gen: torch.Generator):
    """Shuffled mini-batches (the last one may be smaller)."""
    order = torch.randperm(len(data), generator=gen).to(data.device)
    yield from (data[idx] for idx in order.split(batch_size))


class LatentTask(Task):
    """Latent matching: an MLP encoder trained by the regularizer alone; SWD to the prior."""

    name = "latent"
    about = About(help="synthetic latent matching (paper Sec. 4.1, Fig. 2 left)",
                  description="Match an MLP's codes of Gaussian data to the prior with each "
                  "regularizer alone; SWD to the prior after every epoch.", order=0)  # fmt: skip
    config = LatentConfig
    results = ResultTable(
        file="curves.csv", columns=("method", "seed", "epoch", "swd", "seconds", "loss",
                                    "noise_floor"),
        metric="swd", metric_label="latent SWD to prior", summary_epochs=(1, 5, 20),
    )  # fmt: skip

    def setup(self, cfg: LatentConfig, device) -> Context:
        """Nothing to load: the data are made per seed (``fixtures``); an epoch is the points."""
        return Context(cfg, device, size=cfg.points)

    def prior(self, cfg):
        """The sphere or Gaussian prior in R^latent_dim (``--prior``)."""
        return regularizers.build_prior(cfg.prior, cfg.latent_dim)

    def build_models(self, ctx):
        """The MLP encoder (data_dim -> hidden_dim -> latent_dim), normalized for the sphere."""
        cfg = ctx.cfg
        on_sphere = self.prior(cfg).on_sphere
        return {"encoder": MLPEncoder(cfg.data_dim, cfg.hidden_dim, cfg.latent_dim, on_sphere)}

    def fixtures(self, ctx, seed: int) -> Fixtures:
        """The seed's data, evaluation prior set, directions and floor (``make_fixtures``)."""
        return make_fixtures(ctx.cfg, seed, ctx.device)

    def batches(self, ctx, fixtures: Fixtures, rng):
        """Shuffled batches of the data points."""
        return batches(fixtures.data, ctx.cfg.batch_size, rng)

    def evaluate(self, ctx, fixtures: Fixtures, models) -> dict:
        """SWD between the codes of every point and the evaluation prior set; the floor."""
        codes = models["encoder"](fixtures.data)
        swd = swd_to_sorted(codes, fixtures.prior_projections, fixtures.directions)
        return {"swd": swd, "noise_floor": fixtures.noise_floor}

    def report(self, run_dir: Path, figures: bool = True) -> None:
        """(Re)write the summary tables and (``figures``) figures of a run or a dimension
        study."""
        run_dir = Path(run_dir)
        if "study" in folders.read_config(run_dir):
            from . import study

            study.report(self, run_dir, figures)
        else:
            from . import report

            report.report(self, run_dir, figures)


TASK = LatentTask()


def _int_list(text: str) -> list[int]:
    """'8,32,128' -> [8, 32, 128]."""
    import argparse

    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expects integers such as 8,32,128, got {text!r}"
        ) from None
