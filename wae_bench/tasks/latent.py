"""Synthetic latent matching (paper Sec. 4.1, left of Fig. 2; SPEC section 3).

No decoder: an MLP encoder maps `points` standard-normal vectors of R^data_dim to codes and
only the regularizer is minimized. After every epoch (and before training, epoch 0) the
latent SWD between the codes of all points and one fixed set of as many prior samples is
measured along fixed random directions; the noise floor is the same distance between two
independent prior sets. For a given seed every method sees the same data, initial encoder,
batch order, evaluation samples and directions.
"""

import math
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

import regularizers
from regularizers import TrainingPlan
from regularizers.swd import random_directions

from .. import config as config_io
from .. import plots, results
from ..config import LatentConfig
from ..errors import UsageError
from ..metrics import latent_swd
from ..models import MLPEncoder
from ..train import check_finite, load_training_state, train_epoch, training_state

CURVES = "curves.csv"
SUMMARY_EPOCHS = (1, 5, 20)
FLOOR_TOLERANCE = 0.10  # "converged" = within 10% of the noise floor


@dataclass
class Fixtures:
    """Everything a seed fixes for all methods alike."""

    data: Tensor  # points x data_dim
    eval_prior: Tensor  # points x latent_dim
    directions: Tensor  # latent_dim x eval_directions
    noise_floor: float
    batch_seed: int


def make_fixtures(cfg: LatentConfig, seed: int, device: torch.device) -> Fixtures:
    gen = torch.Generator().manual_seed(seed)
    prior = regularizers.build_prior(cfg.prior, cfg.latent_dim)
    data = torch.randn(cfg.points, cfg.data_dim, generator=gen)
    eval_prior = prior.sample(cfg.points, generator=gen)
    other_prior = prior.sample(cfg.points, generator=gen)
    directions = random_directions(cfg.latent_dim, cfg.eval_directions, generator=gen)
    floor = latent_swd(eval_prior, other_prior, directions)
    return Fixtures(data.to(device), eval_prior.to(device), directions.to(device), floor, seed)


def batches(data: Tensor, batch_size: int, gen: torch.Generator):
    """Shuffled mini-batches (the last one may be smaller)."""
    order = torch.randperm(len(data), generator=gen).to(data.device)
    yield from (data[idx] for idx in order.split(batch_size))


def _setup(cfg: LatentConfig, method: str, seed: int, device: torch.device):
    """Encoder, bound regularizer and optimizer of one run, from the seed alone."""
    torch.manual_seed(seed)
    prior = regularizers.build_prior(cfg.prior, cfg.latent_dim)
    encoder = MLPEncoder(cfg.data_dim, cfg.hidden_dim, cfg.latent_dim, prior.on_sphere)
    encoder.to(device)
    try:
        reg = regularizers.build(method, **cfg.params.get(method, {}))
        plan = TrainingPlan(
            batch_size=cfg.batch_size,
            total_steps=cfg.epochs * math.ceil(cfg.points / cfg.batch_size),
            dataset_size=cfg.points,
        )
        reg.bind(encoder, prior, plan)
    except (ValueError, TypeError) as err:
        raise UsageError(f"{method}: {err} (set with --set {method}.PARAM=VALUE)") from None
    reg.to(device)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=cfg.lr)
    return encoder, reg, optimizer


def run_method(cfg, method, fixtures, device, progress, checkpoint: Path, on_eval) -> list[dict]:
    """Train one (method, seed); one row per epoch, epoch 0 included.

    A checkpoint is written after every epoch; with ``cfg.resume`` an existing one is
    continued, giving the same rows as an uninterrupted run on CPU.
    """
    encoder, reg, optimizer = _setup(cfg, method, fixtures.batch_seed, device)
    batch_gen = torch.Generator().manual_seed(fixtures.batch_seed)
    modules = {"encoder": encoder, "regularizer": reg}
    run_name = f"{method}_seed{fixtures.batch_seed}"

    def evaluate(epoch, seconds, loss):
        encoder.eval()
        with torch.no_grad():
            swd = latent_swd(encoder(fixtures.data), fixtures.eval_prior, fixtures.directions)
        return dict(method=method, seed=fixtures.batch_seed, epoch=epoch, swd=swd,
                    seconds=seconds, loss=loss, noise_floor=fixtures.noise_floor)  # fmt: skip

    rows, seconds = [evaluate(0, 0.0, float("nan"))], 0.0

    def load(state):
        nonlocal rows, seconds
        if state.get("run") != run_name:
            raise ValueError(f"it belongs to run {state.get('run')!r}, not {run_name!r}")
        load_training_state(state, modules, optimizer, batch_gen)
        rows, seconds = state["rows"], state["seconds"]

    if cfg.resume and checkpoint.exists():
        results.resume_from(checkpoint, device, load)
        progress.update(len(rows) - 1)
    for epoch in range(len(rows), cfg.epochs + 1):
        start = time.perf_counter()
        loss = train_epoch(
            encoder, reg, optimizer, batches(fixtures.data, cfg.batch_size, batch_gen)
        )
        seconds += time.perf_counter() - start
        check_finite(loss, run_name, epoch)
        rows.append(evaluate(epoch, seconds, loss))
        results.save_checkpoint(checkpoint, {
            "run": run_name, "rows": rows, "seconds": seconds,
            **training_state(modules, optimizer, batch_gen),
        })  # fmt: skip
        on_eval(rows)
        progress.set_postfix(swd=f"{rows[-1]['swd']:.4f}", refresh=False)
        progress.update()
    return rows


def default_out_dir() -> Path:
    return Path("results") / "latent" / time.strftime("%Y%m%d-%H%M%S")


def run(cfg: LatentConfig) -> Path:
    """Run every (seed, method), writing curves.csv after each; then the summary and figure."""
    device = results.resolve_device(cfg.device)
    # Build every method once before any training: bad hyper-parameters fail here.
    hparams = {
        m: _setup(cfg, m, cfg.seeds[0], torch.device("cpu"))[1].hparams() for m in cfg.methods
    }
    out = Path(cfg.out) if cfg.out else default_out_dir()
    saved_cfg = config_io.to_dict(cfg)
    if cfg.resume:
        results.check_resumable(out, saved_cfg)
    results.prepare_run_dir(out / "checkpoints")
    results.write_json(
        out / "config.json",
        {
            "task": "latent",
            "config": saved_cfg,
            "environment": results.environment(device),
            "hparams": hparams,
        },
    )
    rows: list[dict] = []

    def write_curves(running: list[dict]) -> None:
        """Finished runs' rows plus the running one's, on disk after every epoch."""
        results.write_csv(out / CURVES, pd.DataFrame(rows + running))

    total = len(cfg.seeds) * len(cfg.methods)
    for i, seed in enumerate(cfg.seeds):
        fixtures = make_fixtures(cfg, seed, device)
        for j, method in enumerate(cfg.methods):
            label = f"[{i * len(cfg.methods) + j + 1}/{total}] {method} seed {seed}"
            with tqdm(
                total=cfg.epochs,
                desc=label,
                unit="ep",
                disable=cfg.quiet,
                dynamic_ncols=True,
                leave=True,
            ) as progress:
                checkpoint = out / "checkpoints" / f"{method}_seed{seed}.pt"
                rows += run_method(
                    cfg, method, fixtures, device, progress, checkpoint, write_curves
                )
    report(out)
    return out


def summarize(curves: pd.DataFrame) -> pd.DataFrame:
    """Per method: SWD at epochs 1, 5, 20 and last (mean, std over seeds), time to the floor."""
    last = int(curves["epoch"].max())
    epochs = [e for e in SUMMARY_EPOCHS if e < last] + [last]
    rows = []
    for method, runs in curves.groupby("method", sort=False):
        row = {"method": method, "seeds": runs["seed"].nunique()}
        for e in epochs:
            at = runs.loc[runs["epoch"] == e, "swd"]
            row[f"swd_epoch_{e}_mean"], row[f"swd_epoch_{e}_std"] = at.mean(), at.std()
        reached = [_first_within_floor(run) for _, run in runs.groupby("seed")]
        hit = [r for r in reached if r is not None]
        row["reached_floor"] = len(hit)
        for key, idx in (("epochs_to_floor", 0), ("seconds_to_floor", 1)):
            values = pd.Series([r[idx] for r in hit], dtype=float)
            row[f"{key}_mean"], row[f"{key}_std"] = values.mean(), values.std()
        trained = runs[runs["epoch"] == last]
        row["seconds_per_epoch"] = (trained["seconds"] / last).mean()
        rows.append(row)
    return pd.DataFrame(rows)


def _first_within_floor(run: pd.DataFrame):
    """(epoch, seconds) of the first evaluation with swd <= 1.1 x noise floor, else None."""
    close = run[run["swd"] <= (1 + FLOOR_TOLERANCE) * run["noise_floor"]]
    if close.empty:
        return None
    first = close.sort_values("epoch").iloc[0]
    return int(first["epoch"]), float(first["seconds"])


def summary_markdown(summary: pd.DataFrame, curves: pd.DataFrame) -> str:
    epochs = [
        int(c.split("_")[2])
        for c in summary.columns
        if c.endswith("_mean") and c.startswith("swd_epoch_")
    ]
    seeds = int(summary["seeds"].max())
    header = ["method"] + [f"SWD @ epoch {e}" for e in epochs]
    header += ["epochs to floor", "seconds to floor", "s / epoch"]
    lines = [results.markdown_row(header), "|" + "---|" * len(header)]
    for _, r in summary.iterrows():
        cells = [r["method"]] + [
            results.mean_std(r[f"swd_epoch_{e}_mean"], r[f"swd_epoch_{e}_std"], 4) for e in epochs
        ]
        note = (
            ""
            if r["reached_floor"] == r["seeds"]
            else f" ({r['reached_floor']}/{r['seeds']} seeds)"
        )
        cells.append(
            results.mean_std(r["epochs_to_floor_mean"], r["epochs_to_floor_std"], 1) + note
        )
        cells.append(
            results.mean_std(r["seconds_to_floor_mean"], r["seconds_to_floor_std"], 2) + note
        )
        cells.append(f"{r['seconds_per_epoch']:.3f}")
        lines.append(results.markdown_row(cells))
    floor = curves.groupby("seed")["noise_floor"].first()
    intro = (
        f"Latent SWD (SW_2) to the prior, mean ± std over {seeds} seed(s). Noise floor (two "
        f"independent prior sets): {results.mean_std(floor.mean(), floor.std(), 4)}. "
        f"'to floor' = first epoch with SWD <= {1 + FLOOR_TOLERANCE:.1f} x noise floor; "
        "seconds count training only, not evaluation."
    )
    return intro + "\n\n" + "\n".join(lines) + "\n"


def report(run_dir: Path) -> None:
    """(Re)write summary.csv, summary.md and curves.png/.pdf from curves.csv alone."""
    run_dir = Path(run_dir)
    curves = results.read_csv(run_dir / CURVES)
    summary = summarize(curves)
    results.write_csv(run_dir / "summary.csv", summary)
    results.write_text(run_dir / "summary.md", summary_markdown(summary, curves))
    plots.latent_curves(
        curves, run_dir / "curves", _setting(results.read_json(run_dir / "config.json"))
    )


def _setting(saved: dict) -> str:
    """One line describing the run for the figure, from config.json when it is there."""
    cfg = saved.get("config")
    if not cfg:
        return ""
    return (
        f"{cfg['points']} points in R^{cfg['data_dim']} -> {cfg['prior']} prior in "
        f"R^{cfg['latent_dim']}, batch {cfg['batch_size']}, Adam lr {cfg['lr']:g}, "
        f"device {saved['environment']['device']}"
    )
