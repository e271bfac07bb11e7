"""Image-space WAE benchmark (paper Sec. 4.1, right of Fig. 2; SPEC section 4).

One WAE per (method, lam, seed): loss = per-image squared error + lam * regularizer, Adam,
codes on the unit sphere. At epoch 0, every `eval_every` epochs and at the last epoch:
image SWD between `eval_samples` test images and as many decoded prior samples, test-set
reconstruction error and latent SWD of the test codes to the prior. For a given seed every
method and lam sees the same data order, initial weights, evaluation samples and metric
randomness. Each epoch ends with a checkpoint, so `--resume` continues where a run stopped.
"""

import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

import regularizers
from regularizers import TrainingPlan
from regularizers.swd import random_directions

from .. import config as config_io
from .. import data as datasets
from .. import plots, results
from ..config import AMP_DTYPES, ImageConfig
from ..errors import UsageError
from ..image_swd import image_swd
from ..metrics import latent_swd, singular_values
from ..models import build_autoencoder, parameter_count
from ..train import (
    check_finite,
    load_training_state,
    per_image_squared_error,
    train_epoch,
    training_state,
)

METRICS = "metrics.csv"
SINGULAR = "singular_values.csv"
SINGULAR_CODES = 10_000
EVAL_BATCH = 500


@dataclass
class Fixtures:
    """What a seed fixes for every method and lam alike."""

    test_images: Tensor  # n x C x H x W
    floor: float  # image SWD between n training images and the test images
    generation_prior: Tensor  # n x d, decoded into the generated set
    latent_prior: Tensor  # n x d, the reference of the latent SWD
    directions: Tensor  # d x 1000
    seed: int


def make_fixtures(cfg: ImageConfig, data, seed: int, device) -> Fixtures:
    n = cfg.eval_samples or len(data.test)
    gen = torch.Generator().manual_seed(10_000 + seed)
    prior = regularizers.SpherePrior(cfg.latent_dim)
    test_images = datasets.take(data.test, n).to(device)
    train_images = datasets.take(data.train, n).to(device)
    return Fixtures(
        test_images,
        image_swd(test_images, train_images, seed=seed),
        prior.sample(n, generator=gen).to(device),
        prior.sample(n, generator=gen).to(device),
        random_directions(cfg.latent_dim, 1000, generator=gen).to(device),
        seed,
    )


def run_id(method: str, lam: float, seed: int) -> str:
    return f"{method}_lam{lam:g}_seed{seed}"


@torch.no_grad()
def evaluate(encoder, decoder, fx: Fixtures) -> dict:
    encoder.eval()
    decoder.eval()
    generated = torch.cat([decoder(z) for z in fx.generation_prior.split(EVAL_BATCH)])
    codes, squared_error = [], 0.0
    for x in fx.test_images.split(EVAL_BATCH):
        z = encoder(x)
        codes.append(z)
        squared_error += float(per_image_squared_error(x, decoder(z))) * len(x)
    return {
        "image_swd": image_swd(fx.test_images, generated, seed=fx.seed),
        "recon": squared_error / len(fx.test_images),
        "latent_swd": latent_swd(torch.cat(codes), fx.latent_prior, fx.directions),
    }


class Run:
    """One (method, lam, seed): models, regularizer, optimizer, RNG and its rows so far."""

    def __init__(self, cfg: ImageConfig, data, method: str, lam: float, seed: int, device):
        self.cfg, self.data, self.method, self.lam, self.seed = cfg, data, method, lam, seed
        self.id = run_id(method, lam, seed)
        torch.manual_seed(seed)
        try:
            models = build_autoencoder(cfg.arch, data.channels, data.size, cfg.latent_dim)
        except ValueError as err:
            raise UsageError(str(err)) from None
        self.encoder, self.decoder = (m.to(device) for m in models)
        self.steps_per_epoch = math.ceil(len(data.train) / cfg.batch_size)
        try:
            self.reg = regularizers.build(method, **cfg.params.get(method, {}))
            plan = TrainingPlan(cfg.batch_size, cfg.epochs * self.steps_per_epoch, len(data.train))
            self.reg.bind(self.encoder, regularizers.SpherePrior(cfg.latent_dim), plan)
        except (ValueError, TypeError) as err:
            raise UsageError(f"{method}: {err} (set with --set {method}.PARAM=VALUE)") from None
        self.reg.to(device)
        if cfg.compile:  # after bind: MoCA's key encoder is an eager copy
            self.encoder.compile()
            self.decoder.compile()
        params = [*self.encoder.parameters(), *self.decoder.parameters()]
        self.optimizer = torch.optim.Adam(params, lr=cfg.lr)
        self.batch_rng = torch.Generator().manual_seed(seed)
        self.epoch, self.seconds, self.rows = 0, 0.0, []

    def lr_at(self, epoch: int) -> float:
        """Learning rate of ``epoch`` (1-based): halved every ``lr_halve_every`` epochs."""
        every = self.cfg.lr_halve_every
        return self.cfg.lr * 0.5 ** ((epoch - 1) // every) if every else self.cfg.lr

    def record(self, fixtures: Fixtures, loss: float) -> None:
        row = dict(method=self.method, lam=self.lam, seed=self.seed, epoch=self.epoch)
        row.update(evaluate(self.encoder, self.decoder, fixtures))
        row.update(image_swd_floor=fixtures.floor, seconds=self.seconds, loss=loss)
        self.rows.append(row)

    def train_one_epoch(self, progress) -> float:
        self.epoch += 1
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.epoch)
        device = module_device(self.encoder)
        steps = 0

        def on_step(loss):
            nonlocal steps
            steps += 1
            progress.update()
            if steps % 10 == 0:
                progress.set_postfix(loss=f"{float(loss):.3f}", refresh=False)

        start = time.perf_counter()
        loss = train_epoch(
            self.encoder, self.reg, self.optimizer,
            datasets.batches(self.data.train, self.cfg.batch_size, self.batch_rng, device),
            decoder=self.decoder, lam=self.lam, on_step=on_step,
            amp_dtype=AMP_DTYPES[self.cfg.amp],
        )  # fmt: skip
        self.seconds += time.perf_counter() - start
        return loss

    def modules(self) -> dict:
        return {"encoder": self.encoder, "decoder": self.decoder, "regularizer": self.reg}

    def state(self) -> dict:
        return {
            "run": self.id, "epoch": self.epoch, "seconds": self.seconds, "rows": self.rows,
            **training_state(self.modules(), self.optimizer, self.batch_rng),
        }  # fmt: skip

    def load(self, state: dict) -> None:
        if state.get("run") != self.id:
            raise ValueError(f"it belongs to run {state.get('run')!r}, not {self.id!r}")
        load_training_state(state, self.modules(), self.optimizer, self.batch_rng)
        self.epoch, self.seconds, self.rows = state["epoch"], state["seconds"], state["rows"]


def module_device(module) -> torch.device:
    return next(module.parameters()).device


def train(run: Run, fixtures: Fixtures, checkpoint: Path, on_eval, quiet: bool) -> None:
    """Train ``run`` to the last epoch, evaluating and checkpointing as configured."""
    cfg = run.cfg
    if run.epoch == 0 and not run.rows:
        run.record(fixtures, float("nan"))
        on_eval()
    total = cfg.epochs * run.steps_per_epoch
    with tqdm(total=total, initial=run.epoch * run.steps_per_epoch, desc=run.id, unit="step",
              disable=quiet, dynamic_ncols=True) as progress:  # fmt: skip
        while run.epoch < cfg.epochs:
            loss = run.train_one_epoch(progress)
            check_finite(loss, run.id, run.epoch)
            if run.epoch % cfg.eval_every == 0 or run.epoch == cfg.epochs:
                run.record(fixtures, loss)
                on_eval()
            results.save_checkpoint(checkpoint, run.state())


def run(cfg: ImageConfig) -> Path:
    device = results.resolve_device(cfg.device)
    data = datasets.load(cfg.dataset, cfg.data_root, cfg.download, cfg.image_size)
    if cfg.eval_samples > len(data.test):
        raise UsageError(
            f"eval_samples {cfg.eval_samples} exceeds the {len(data.test)} test images of "
            f"{data.name}; lower --eval-samples"
        )
    if isinstance(data.train, Tensor):
        data.train = data.train.to(device)  # small datasets live on the device once
    out = Path(cfg.out) if cfg.out else Path("results") / "image" / time.strftime("%Y%m%d-%H%M%S")
    # Build every run's models once before training: bad settings fail here, on the CPU.
    probe = {m: Run(cfg, data, m, cfg.lambdas[m][0], cfg.seeds[0], "cpu") for m in cfg.methods}
    enc, dec = probe[cfg.methods[0]].encoder, probe[cfg.methods[0]].decoder
    if not cfg.quiet:
        print(
            f"{cfg.arch} on {data.name} ({data.channels}x{data.size}x{data.size}), latent "
            f"{cfg.latent_dim}: encoder {parameter_count(enc) / 1e6:.2f}M + decoder "
            f"{parameter_count(dec) / 1e6:.2f}M = {parameter_count(enc, dec) / 1e6:.2f}M parameters"
        )
    saved_cfg = config_io.to_dict(cfg)
    if cfg.resume:
        results.check_resumable(out, saved_cfg)
    results.prepare_run_dir(out / "checkpoints")
    results.write_json(out / "config.json", {
        "task": "image", "config": saved_cfg, "environment": results.environment(device),
        "hparams": {m: r.reg.hparams() for m, r in probe.items()},
        "parameters": {"encoder": parameter_count(enc), "decoder": parameter_count(dec)},
        "data": {"name": data.name, "train": len(data.train), "test": len(data.test),
                 "channels": data.channels, "size": data.size},
    })  # fmt: skip
    finished: list[dict] = []

    def write_metrics(running: list[dict]) -> None:
        """All finished runs' rows plus the running one's: on disk after every evaluation."""
        results.write_csv(out / METRICS, pd.DataFrame(finished + running))

    singular: list[dict] = _prior_spectrum(cfg, data)
    for seed in cfg.seeds:
        fixtures = make_fixtures(cfg, data, seed, device)
        for method, lam in [(m, lam) for m in cfg.methods for lam in cfg.lambdas[m]]:
            current = Run(cfg, data, method, lam, seed, device)
            checkpoint = out / "checkpoints" / f"{current.id}.pt"
            if cfg.resume and checkpoint.exists():
                results.resume_from(checkpoint, device, current.load)
            train(current, fixtures, checkpoint, partial(write_metrics, current.rows), cfg.quiet)
            finished += current.rows
            singular += _singular_rows(current, data, device)
            if seed == cfg.seeds[0]:
                title = f"{method}, lam = {lam:g}, seed {seed}"
                plots.image_visuals(current.encoder, current.decoder, fixtures.test_images,
                                    out / "visuals" / f"{method}_lam{lam:g}", title)  # fmt: skip
    results.write_csv(out / SINGULAR, pd.DataFrame(singular))
    report(out)
    return out


def _singular_rows(run: Run, data, device) -> list[dict]:
    """Singular values of the centered codes of up to 10,000 training images (paper Fig. 4)."""
    images = datasets.take(data.train, SINGULAR_CODES)
    run.encoder.eval()
    with torch.no_grad():
        codes = torch.cat([run.encoder(x.to(device)) for x in images.split(EVAL_BATCH)])
    return _spectrum(codes, run.method, run.lam, run.seed)


def _prior_spectrum(cfg: ImageConfig, data) -> list[dict]:
    """The same spectrum for as many prior samples: what perfectly matched codes give."""
    n = min(len(data.train), SINGULAR_CODES)
    generator = torch.Generator().manual_seed(cfg.seeds[0])
    samples = regularizers.SpherePrior(cfg.latent_dim).sample(n, generator=generator)
    return _spectrum(samples, plots.PRIOR_REFERENCE, 0.0, cfg.seeds[0])


def _spectrum(codes: Tensor, method: str, lam: float, seed: int) -> list[dict]:
    return [
        dict(method=method, lam=lam, seed=seed, index=i + 1, value=float(v))
        for i, v in enumerate(singular_values(codes))
    ]


def summarize(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per (method, lam): image SWD at epoch 5 and last (mean, std over seeds), best recon."""
    last = int(metrics["epoch"].max())
    rows = []
    for (method, lam), runs in metrics.groupby(["method", "lam"], sort=False):
        row = {"method": method, "lam": lam, "seeds": runs["seed"].nunique()}
        for label, epoch in (("epoch_5", 5), ("last", last)):
            at = runs.loc[runs["epoch"] == epoch, "image_swd"]
            row[f"image_swd_{label}_mean"], row[f"image_swd_{label}_std"] = at.mean(), at.std()
        best = runs.groupby("seed")["recon"].min()
        row["best_recon_mean"], row["best_recon_std"] = best.mean(), best.std()
        final = runs[runs["epoch"] == last]
        row["latent_swd_last_mean"] = final["latent_swd"].mean()
        row["seconds_per_epoch"] = (final["seconds"] / last).mean()
        rows.append(row)
    return pd.DataFrame(rows)


def summary_markdown(summary: pd.DataFrame, metrics: pd.DataFrame) -> str:
    last = int(metrics["epoch"].max())
    header = ["method", "lam", "image SWD @ epoch 5", f"image SWD @ epoch {last}",
              "best test recon (SSE / image)", f"latent SWD @ {last}", "s / epoch"]  # fmt: skip
    lines = [results.markdown_row(header), "|" + "---|" * len(header)]
    for _, r in summary.iterrows():
        cells = [r["method"], f"{r['lam']:g}",
                 results.mean_std(r["image_swd_epoch_5_mean"], r["image_swd_epoch_5_std"], 0),
                 results.mean_std(r["image_swd_last_mean"], r["image_swd_last_std"], 0),
                 results.mean_std(r["best_recon_mean"], r["best_recon_std"], 2),
                 f"{r['latent_swd_last_mean']:.4f}", f"{r['seconds_per_epoch']:.2f}"]  # fmt: skip
        lines.append(results.markdown_row(cells))
    seeds = int(summary["seeds"].max())
    floor = metrics.groupby("seed")["image_swd_floor"].first()
    intro = (
        f"Image SWD (x1000, Laplacian-pyramid 7x7 patches) between the test images and as many "
        f"decoded prior samples; mean ± std over {seeds} seed(s). Lower is better. Floor "
        f"(as many training images vs the test images): {floor.mean():.0f}. Recon: sum of "
        "squared errors per test image."
    )
    return intro + "\n\n" + "\n".join(lines) + "\n"


def report(run_dir: Path) -> None:
    """(Re)write summary.csv/.md, swd_vs_epoch.png/.pdf and singular_values.png from the CSVs."""
    run_dir = Path(run_dir)
    metrics = results.read_csv(run_dir / METRICS)
    summary = summarize(metrics)
    results.write_csv(run_dir / "summary.csv", summary)
    results.write_text(run_dir / "summary.md", summary_markdown(summary, metrics))
    saved = results.read_json(run_dir / "config.json")
    plots.image_swd_curves(metrics, run_dir / "swd_vs_epoch", _setting(saved))
    if (run_dir / SINGULAR).is_file():
        plots.singular_value_spectra(
            results.read_csv(run_dir / SINGULAR), run_dir / "singular_values"
        )


def _setting(saved: dict) -> str:
    cfg, data = saved.get("config"), saved.get("data")
    if not cfg or not data:
        return ""
    return (
        f"{cfg['arch']} on {data['name']} ({data['size']}x{data['size']}), "
        f"latent {cfg['latent_dim']}, batch {cfg['batch_size']}, Adam lr {cfg['lr']:g}, "
        f"device {saved['environment']['device']}"
    )
