"""Image-space WAE benchmark (paper Sec. 4.1, right of Fig. 2).

One WAE per (method, lam, seed): loss = per-image squared error + lam * regularizer, Adam,
codes on the unit sphere. At epoch 0, every `eval_every` epochs and at the last epoch:
image SWD between `eval_samples` test images and as many decoded prior samples, test-set
reconstruction error and latent SWD of the test codes to the prior. For a given seed every
method and lam sees the same data order, initial weights, evaluation samples and metric
randomness.
"""

import copy
import dataclasses
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import torch
from torch import Tensor

import regularizers
from regularizers.search import Range
from regularizers.swd import random_directions

from ... import data as datasets
from ... import run_files
from ...config import RunConfig, check_lambdas, check_non_negative_int
from ...errors import UsageError
from ...fid import INCEPTION_FILE
from ...image_swd import PADDINGS, SwdReference, image_swd_to, swd_reference
from ...metrics import latent_swd
from ...models import build_autoencoder
from ...sample_quality import NEIGHBOURS
from ...step import per_image_squared_error
from ..base import About, Context, ResultTable, RunHooks, Task, Tuning
from . import spectra

EVAL_BATCH = 500
DEFAULT_LAMBDAS = [1.0, 10.0, 100.0]
SPLITS = ("test", "validation")
VALIDATION_FRACTION = 0.2  # at most this share of the training images becomes validation
VALIDATION_SEED = 20_000  # the one random order that picks the validation images
SUBSET_SEED = 20_001  # the one random order that picks --train-images of the rest
TUNED_LAM = 10.0  # the default arm's lam when a tune is given the default lam grid
LAM_OFF = ("lam -> 0 turns the regularizer off (the plain autoencoder, lam = 0, lies below any "
           "log range); a winner here means this budget's validation score does not reward "
           "matching the prior (docs/tuning.md compares the plain autoencoder)")
FID_COLUMNS = ("fid", "kid", "kid_std")
CLASSIFIER_COLUMNS = ("classifier_fd", "precision", "recall")  # with --classifier

# The paper's protocols (its Appendix A). The suite's choices where the paper is silent
# (docs/image.md, "The paper's protocols"): the lam grids (best lam grows with the pixel
# count, so the grid moves with it), MNIST's architecture and schedule, and K = 16384 (MoCA's
# default cap).
_PAPER = {"methods": ["moca", "mmd"], "batch_size": 64, "latent_dim": 128, "lr": 1e-3,
          "seeds": [0], "eval_every": 5, "params": {"moca": {"K": 16384}}}  # fmt: skip
PROTOCOLS = {
    "paper-cifar10": {**_PAPER, "dataset": "cifar10", "arch": "a2", "epochs": 100,
                      "lr_halve_every": 60, "eval_samples": 10_000,
                      "lambdas": [10.0, 100.0, 1000.0]},
    "paper-celeba": {**_PAPER, "dataset": "celeba", "arch": "a2", "epochs": 200,
                     "lr_halve_every": 60, "eval_samples": 10_000,
                     "lambdas": [100.0, 1000.0, 10000.0]},
    "paper-mnist": {**_PAPER, "dataset": "mnist", "arch": "a2", "epochs": 100,
                    "lr_halve_every": 60, "eval_samples": 10_000,
                    "lambdas": [1.0, 10.0, 100.0]},
}  # fmt: skip


@dataclass(kw_only=True)
class ImageConfig(RunConfig):
    """WAE training on images, one run per (method, lam, seed)."""

    POSITIVE_INTS = (*RunConfig.POSITIVE_INTS, "eval_every", "image_size")

    dataset: str = "digits"
    data_root: str = "data"
    download: bool = False
    image_size: int = 64
    arch: str = "conv"
    lambdas: dict[str, list[float]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    epochs: int = 30
    lr_halve_every: int = 0
    eval_every: int = 5
    eval_samples: int = 0
    swd_padding: str = "zeros"  # swd-pytorch's convention; "reflect": shift-invariant
    fid_weights: str = ""
    classifier: str = ""  # feature network of `wae-bench classifier` (sample quality)
    protocol: str = ""
    split: str = "test"  # "validation": evaluate on held-out training images (tuning)
    train_images: int = 0  # > 0: train on this many images outside the validation split

    def check(self) -> None:
        """Lambdas (one list per method), splits, paddings and counts are valid."""
        for name in ("lr_halve_every", "eval_samples", "train_images"):
            check_non_negative_int(name, getattr(self, name))
        self.lambdas = check_lambdas(self.lambdas, self.methods, DEFAULT_LAMBDAS)
        if self.split not in SPLITS:
            raise UsageError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.swd_padding not in PADDINGS:
            raise UsageError(f"swd_padding must be one of {', '.join(PADDINGS)}, "
                             f"got {self.swd_padding!r}")  # fmt: skip

    @classmethod
    def protocol_settings(cls, name: str) -> dict:
        """The settings of the paper's protocol ``name`` (``--protocol``)."""
        if name not in PROTOCOLS:
            raise UsageError(f"unknown protocol {name!r}; choose from {', '.join(PROTOCOLS)}")
        return copy.deepcopy(PROTOCOLS[name])

    def lambda_values(self, method: str) -> list[float]:
        """The regularizer weights ``method`` trains with (one run each)."""
        return self.lambdas[method]

    @classmethod
    def add_arguments(cls, parser) -> None:
        """--lambdas, --arch, --dataset and the other image flags."""
        parser.add_argument(
            "--dataset",
            help="digits (default, embedded), mnist, fashion-mnist, cifar10, celeba or folder",
        )
        parser.add_argument("--data-root", help="folder holding the dataset (default ./data)")
        parser.add_argument("--download", action="store_true", help="let torchvision download it")
        parser.add_argument("--image-size", type=int,
                            help="side length of `folder` images (default 64)")  # fmt: skip
        parser.add_argument("--arch", help="conv (default), a1 or a2")
        parser.add_argument(
            "--lambdas", type=_lambdas, action="append", metavar="[METHOD=]L1,L2",
            help="weights for every method, or for one (repeatable; default 1,10,100)",
        )  # fmt: skip
        parser.add_argument("--lr-halve-every", type=int,
                            help="halve the learning rate every N epochs")  # fmt: skip
        parser.add_argument("--eval-every", type=int, help="evaluate every N epochs (default 5)")
        parser.add_argument("--eval-samples", type=int,
                            help="images per evaluation (default: test set)")  # fmt: skip
        parser.add_argument("--swd-padding", choices=list(PADDINGS),
                            help="image SWD borders: zeros (default) or reflect")  # fmt: skip
        fid_help = f"add FID and KID columns: the local {INCEPTION_FILE}"
        parser.add_argument("--fid-weights", metavar="PATH", help=fid_help)
        parser.add_argument("--classifier", metavar="PATH",
                            help="add classifier Frechet distance, precision and recall: the "
                            "weights `wae-bench classifier` wrote for this data set")  # fmt: skip
        parser.add_argument("--protocol", choices=list(PROTOCOLS),
                            help="the paper's settings for a dataset (flags override)")  # fmt: skip
        parser.add_argument("--split", choices=list(SPLITS),
                            help="evaluate on the test set (default) or on the validation "
                            "split of the training images (choose lam there)")  # fmt: skip
        parser.add_argument("--train-images", type=int, metavar="N",
                            help="train on N images drawn once from outside the validation "
                            "split, whichever split is evaluated (default: all)")  # fmt: skip

    def eval_due(self, epoch: int) -> bool:
        """Every ``eval_every`` epochs and at the last one."""
        return epoch % self.eval_every == 0 or epoch == self.epochs

    def learning_rate(self, epoch: int) -> float:
        """Halved every ``lr_halve_every`` epochs (0: constant)."""
        every = self.lr_halve_every
        return self.lr * 0.5 ** ((epoch - 1) // every) if every else self.lr

    def prefers_gpu(self) -> bool:
        """Yes, for every setting: the convolutional autoencoder trains much faster on a GPU
        (an H100 measurement of the default conv net, not committed; a1 and a2 are larger
        still)."""
        return True


@dataclass
class ImageContext(Context):
    """What an image command loads once: the data, the spectra so far, the FID network."""
    data: datasets.ImageData
    singular: list[dict] = field(default_factory=list)  # the runs' rows of singular_values.csv
    inception: torch.nn.Module | None = None  # FID/KID features, with --fid-weights
    real_features: Tensor | None = None  # of the test images (the same for every seed)
    classifier: torch.nn.Module | None = None  # sample-quality features, with --classifier
    classifier_card: dict | None = None  # its card (sha256, test accuracy), for config.json
    real_classifier_features: Tensor | None = None  # of the test images


@dataclass
class Fixtures:
    """What a seed fixes for every method and lam alike."""

    test_images: Tensor  # n x C x H x W
    floor_images: Tensor  # n training images, the floor's set
    generation_prior: Tensor  # n x d, decoded into the generated set
    latent_prior: Tensor  # n x d, the reference of the latent SWD
    directions: Tensor  # d x 1000
    seed: int
    swd_padding: str

    @cached_property
    def swd_reference(self) -> SwdReference:
        """The test images' side of every image SWD of the seed, projected and sorted once, at
        the first evaluation (a process that only draws visuals never pays for it)."""
        return swd_reference(self.test_images, seed=self.seed, padding=self.swd_padding)

    @cached_property
    def floor(self) -> float:
        """Image SWD between the n training images and the test images."""
        return image_swd_to(self.swd_reference, self.floor_images)


def make_fixtures(cfg: ImageConfig, data, seed: int, device) -> Fixtures:
    """Test images, training images for the floor, prior codes to decode and directions,
    from the seed alone."""
    n = cfg.eval_samples or len(data.test)
    gen = torch.Generator().manual_seed(10_000 + seed)
    prior = regularizers.SpherePrior(cfg.latent_dim)
    return Fixtures(
        datasets.take(data.test, n).to(device),
        datasets.take(data.train, n).to(device),
        prior.sample(n, generator=gen).to(device),
        prior.sample(n, generator=gen).to(device),
        random_directions(cfg.latent_dim, 1000, generator=gen).to(device),
        seed,
        cfg.swd_padding,
    )


@lru_cache(maxsize=2)
def load_data(dataset: str, root: str, download: bool, size: int) -> datasets.ImageData:
    """The dataset, read once per process (sweeps check many configs of one dataset)."""
    return datasets.load(dataset, root, download, size)


def validation_split(data: datasets.ImageData) -> datasets.ImageData:
    """n training images drawn at random (a fixed order, ``VALIDATION_SEED``) as the evaluation
    set, n = min(test size, 20% of train); the model trains on the rest. Tuning scores trials
    here, never on the test set; a random draw keeps the classes of a data set stored class by
    class (a folder of class subfolders) in both parts."""
    n = min(len(data.test), int(VALIDATION_FRACTION * len(data.train)))
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(
        VALIDATION_SEED))  # fmt: skip
    keep, held = order[n:].sort().values, order[:n].sort().values
    labels = data.labels and (data.labels[0][keep], data.labels[0][held])
    return dataclasses.replace(data, train=subset(data.train, keep),
                               test=subset(data.train, held), labels=labels)  # fmt: skip


def subset(split: Tensor | torch.utils.data.Dataset, index: Tensor):
    """The images ``index`` of a split: indexed in memory, or a lazy ``Subset`` of files."""
    if isinstance(split, Tensor):
        return split[index]
    return torch.utils.data.Subset(split, index.tolist())


def training_images(data: datasets.ImageData, cfg: ImageConfig) -> datasets.ImageData:
    """The data a run sees: with --split validation, evaluated on the validation split;
    with --train-images N, trained on N images drawn once (``SUBSET_SEED``) from outside the
    validation split, so a lam chosen on validation and the test run train on the same N."""
    if cfg.split == "test" and not cfg.train_images:
        return data
    held = validation_split(data)
    if cfg.split == "test":  # the validation images leave training; the test set stays
        labels = data.labels and (held.labels[0], data.labels[1])
        held = dataclasses.replace(held, test=data.test, labels=labels)
    if not cfg.train_images:
        return held
    if cfg.train_images > len(held.train):
        raise UsageError(
            f"--train-images {cfg.train_images} exceeds the {len(held.train)} training images "
            f"of {data.name} outside its validation split; lower it"
        )
    pick = torch.randperm(len(held.train), generator=torch.Generator().manual_seed(
        SUBSET_SEED))[:cfg.train_images].sort().values  # fmt: skip
    labels = held.labels and (held.labels[0][pick], held.labels[1])
    return dataclasses.replace(held, train=subset(held.train, pick), labels=labels)


def classifier_scores(ctx: ImageContext, real: Tensor, generated: Tensor) -> dict:
    """classifier_fd, precision and recall of ``generated`` against the ``real`` test images
    in the features of ``--classifier`` (``sample_quality``); the real features once."""
    from ... import feature_net
    from ...sample_quality import sample_quality

    if ctx.real_classifier_features is None:
        ctx.real_classifier_features = feature_net.features(ctx.classifier, real)
    scores = sample_quality(feature_net.features(ctx.classifier, generated.clamp(0, 1)),
                            ctx.real_classifier_features)  # fmt: skip
    return {"classifier_fd": scores["frechet"], "precision": scores["precision"],
            "recall": scores["recall"]}  # fmt: skip


def decode(decoder, codes: Tensor) -> Tensor:
    """decoder(codes) in chunks of EVAL_BATCH."""
    return torch.cat([decoder(z) for z in codes.split(EVAL_BATCH)])


def data_record(ctx: ImageContext) -> dict:
    """What config.json records of the data: the data set (name, the sizes of the training
    images and of the split evaluated: test, or validation when tuning; the folder read;
    release) and the classifier's card."""
    cfg, data = ctx.cfg, ctx.data
    return {
        "data": {"name": data.name, "train": len(data.train), cfg.split: len(data.test),
                 "channels": data.channels, "size": data.size,
                 **({"folder": data.folder} if data.folder else {}),
                 **({"release": data.release} if data.release else {})},
        **({"classifier": {"path": cfg.classifier, **ctx.classifier_card}}
           if ctx.classifier_card else {}),
    }  # fmt: skip


class ImageTuning(Tuning):
    """lam and the learning rate, tuned beside each method's hyper-parameters; trials score
    on the validation split of the training images."""

    penalty_knob = "lam"

    def knobs(self, cfg: ImageConfig) -> dict:
        """lam (its best value moves with the method: MoCA's penalty is O(1), MMD's O(1/B),
        Sinkhorn's smaller still) over nine decades and the learning rate over three: the
        earlier image tunes (lam 1 to 1000 and 0.1 to 1e4; lr up to 3e-3 and 1e-2) put their
        winners on an edge of each (docs/tuning.md)."""
        return {"lam": Range(1e-3, 1e6, "log", low_limit=LAM_OFF), "lr": Range(3e-5, 3e-2, "log")}

    def defaults(self, cfg: ImageConfig, method: str) -> dict:
        """The untuned arm's lam (the one given, else TUNED_LAM) and learning rate."""
        lams = cfg.lambda_values(method)
        if len(lams) != 1 and lams != DEFAULT_LAMBDAS:
            raise UsageError(
                f"tune image: the untuned arm trains {method} at one lam, got {lams}; "
                f"pass one value, e.g. --lambdas {TUNED_LAM:g}"
            )
        return {"lam": lams[0] if len(lams) == 1 else TUNED_LAM, "lr": cfg.lr}

    def apply(self, settings: dict, method: str, values: dict) -> dict:
        """The trial's lr as a setting and its lam as the method's one lambda."""
        values = dict(values)
        lam = values.pop("lam", None)
        lambdas = {method: [lam]} if lam is not None else settings["lambdas"]
        return {**settings, **values, "lambdas": lambdas}

    def validation(self, cfg: ImageConfig) -> dict:
        """Trials evaluate on the validation split of the training images."""
        return {"split": "validation"}


class ImageHooks(RunHooks):
    """TensorBoard grids; the codes' singular values of every run; the first seed's
    visuals."""

    def images(self, ctx: ImageContext, fixtures: Fixtures, models) -> dict[str, Tensor]:
        """Grids of 64 decoded prior samples and 32 test images beside their reconstructions."""
        from torchvision.utils import make_grid

        samples = decode(models["decoder"], fixtures.generation_prior[:64])
        test = fixtures.test_images[:32]
        pairs = torch.stack([test, models["decoder"](models["encoder"](test))], 1).flatten(0, 1)
        return {"samples": make_grid(samples.clamp(0, 1).cpu(), nrow=8),
                "reconstructions": make_grid(pairs.clamp(0, 1).cpu(), nrow=8)}  # fmt: skip

    def after_run(self, ctx: ImageContext, fixtures: Fixtures, run, out: Path) -> None:
        """Singular values of the codes; visuals of the first seed."""
        from .figures import image_visuals

        key = run.key
        ctx.singular += spectra.code_rows(run.models["encoder"], ctx.data.train, ctx.device,
                                         method=key.method, lam=key.lam, seed=key.seed)
        if key.seed == ctx.cfg.seeds[0]:
            stem = out / "visuals" / f"{key.method}_lam{key.lam:g}"
            image_visuals(run.models["encoder"], run.models["decoder"], fixtures.test_images,
                          stem, f"{key.method}, lam = {key.lam:g}, seed {key.seed}")  # fmt: skip

    def finish(self, ctx: ImageContext, out: Path) -> None:
        """Write singular_values.csv: the prior's spectrum, then every run's."""
        rows = spectra.prior_rows(ctx.cfg.latent_dim, len(ctx.data.train), ctx.cfg.seeds[0])
        run_files.write_rows(out / spectra.FILE, rows + ctx.singular)


class ImageTask(Task):
    """WAE training per (method, lam, seed); image SWD, recon and latent SWD per evaluation."""

    name = "image"
    about = About(help="WAE training per regularizer, image SWD vs epoch (paper Sec. 4.1, "
                  "Fig. 2 right)", description="Train one WAE per (method, lam, seed) and "
                  "track the image SWD between test images and decoded prior samples.",
                  order=1)  # fmt: skip
    config = ImageConfig
    tuning = ImageTuning()
    hooks = ImageHooks()
    results = ResultTable(
        file="metrics.csv", columns=("method", "lam", "seed", "epoch", "image_swd", "recon",
                                     "latent_swd", "image_swd_floor", "seconds", "loss"),
        metric="image_swd", metric_label="image SWD ×10³ (test vs generated)",
        headline=("image_swd", "recon", "latent_swd"), summary_epochs=(5,),
        optional=(*((c, "fid_weights") for c in FID_COLUMNS),
                  *((c, "classifier") for c in CLASSIFIER_COLUMNS)),
    )  # fmt: skip
    presets = {  # the paper's ablations on the embedded digits, MoCA, lam 100
        name: {"task": "image", "settings": {"epochs": 20},
               "grid": {"methods": ["moca"], "lambdas": [100.0], "seeds": [0, 1, 2], **axes}}
        for name, axes in {
            "tau": {"moca.tau": [0.05, 0.1, 0.2, 0.5, 1.0, 2.0]},
            "queue": {"moca.K": [100, 500, 1500, 4096]},
            "momentum": {"moca.m": [0.0, 0.9, 0.99, 0.999]},
            "lambda": {"methods": ["moca", "mmd"], "lambdas": [1.0, 10.0, 100.0, 1000.0]},
        }.items()
    }  # fmt: skip

    def setup(self, cfg: ImageConfig, device) -> ImageContext:
        """Load the data set (its validation split, its --train-images subset, the FID and
        classifier networks) once per command."""
        data = training_images(load_data(cfg.dataset, cfg.data_root, cfg.download,
                                         cfg.image_size), cfg)  # fmt: skip
        if cfg.eval_samples > len(data.test):
            raise UsageError(
                f"eval_samples {cfg.eval_samples} exceeds the {len(data.test)} test images of "
                f"{data.name}; lower --eval-samples"
            )
        evaluated = cfg.eval_samples or len(data.test)
        if evaluated > len(data.train):  # the floor compares as many training images
            raise UsageError(
                f"{evaluated} images per evaluation exceed the {len(data.train)} training "
                "images (the floor compares as many); lower --eval-samples or raise "
                "--train-images"
            )
        if cfg.classifier and evaluated <= NEIGHBOURS:
            raise UsageError(
                f"--classifier needs more than {NEIGHBOURS} images per evaluation (precision "
                f"and recall use each image's {NEIGHBOURS} nearest neighbours); raise "
                "--eval-samples"
            )
        if isinstance(data.train, Tensor):  # small datasets live on the device once
            data = dataclasses.replace(data, train=data.train.to(device))
        ctx = ImageContext(cfg, device, data, size=len(data.train))
        if cfg.fid_weights:  # a bad file fails here; the features wait for the first evaluation
            from ... import fid

            ctx.inception = fid.load_inception(cfg.fid_weights).to(device).eval()
        if cfg.classifier:  # a missing, changed or other data set's file fails here
            from ... import feature_net

            net, ctx.classifier_card = feature_net.load_classifier(cfg.classifier, cfg.dataset)
            ctx.classifier = net.to(device)
        ctx.record = data_record(ctx)
        return ctx

    def prior(self, cfg):
        """The uniform prior on the unit sphere of R^latent_dim."""
        return regularizers.SpherePrior(cfg.latent_dim)

    def build_models(self, ctx: ImageContext):
        """The encoder and decoder of ``--arch`` for the data's channels and size."""
        cfg, data = ctx.cfg, ctx.data
        try:
            encoder, decoder = build_autoencoder(cfg.arch, data.channels, data.size,
                                                 cfg.latent_dim)  # fmt: skip
        except ValueError as err:
            raise UsageError(str(err)) from None
        return {"encoder": encoder, "decoder": decoder}

    def fixtures(self, ctx: ImageContext, seed: int) -> Fixtures:
        """The seed's evaluation images, prior samples and directions (``make_fixtures``)."""
        return make_fixtures(ctx.cfg, ctx.data, seed, ctx.device)

    def batches(self, ctx: ImageContext, fixtures, rng):
        """Shuffled batches of the training images on the device."""
        return datasets.batches(ctx.data.train, ctx.cfg.batch_size, rng, ctx.device)

    def evaluate(self, ctx: ImageContext, fixtures: Fixtures, models) -> dict:
        """Image SWD (x1000) of decoded prior samples vs test images, test recon (SSE per
        image), latent SWD of the test codes, the floor, FID/KID with --fid-weights, the
        classifier Frechet distance, precision and recall with --classifier."""
        encoder, decoder = models["encoder"], models["decoder"]
        generated = decode(decoder, fixtures.generation_prior)
        codes, squared_error = [], 0.0
        for x in fixtures.test_images.split(EVAL_BATCH):
            z = encoder(x)
            codes.append(z)
            squared_error += float(per_image_squared_error(x, decoder(z))) * len(x)
        scores = {}
        if ctx.inception is not None:
            from ... import fid

            if ctx.real_features is None:
                ctx.real_features = fid.image_features(fixtures.test_images, ctx.inception)
            features = fid.image_features(generated, ctx.inception)
            scores = fid.features_fid_kid(features, ctx.real_features, seed=fixtures.seed)
        if ctx.classifier is not None:
            scores |= classifier_scores(ctx, fixtures.test_images, generated)
        return {
            "image_swd": image_swd_to(fixtures.swd_reference, generated),
            "recon": squared_error / len(fixtures.test_images),
            "latent_swd": latent_swd(torch.cat(codes), fixtures.latent_prior,
                                     fixtures.directions),
            "image_swd_floor": fixtures.floor,
            **scores,
        }  # fmt: skip

    def report(self, run_dir: Path, figures: bool = True) -> None:
        """(Re)write summary.csv/.md and (``figures``) the curves and singular-value figures
        from the CSVs."""
        from . import report

        report.report(self, Path(run_dir), figures)


TASK = ImageTask()


def _lambdas(text: str) -> tuple[str | None, list[float]]:
    """'1,10' (every method) or 'moca=1,10' (one method)."""
    import argparse

    method, sep, values = text.rpartition("=")
    try:
        lams = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        lams = []
    if not lams:
        raise argparse.ArgumentTypeError(f"expects numbers such as 1,10 or moca=1,10, got {text!r}")
    return (method.strip() if sep else None), lams
