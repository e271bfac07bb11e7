"""A small classifier the suite trains itself, whose features measure sample quality offline.

``FeatureNet`` maps images [B, C, H, W] in [0, 1] of side 16 or 32 (any side >= 8) to 10 class
logits through a d = 128 feature layer:

  3 x (conv 3x3 - BatchNorm - ReLU), max-pool 2 after the first two, adaptive average pool to
  2 x 2 (so the side does not matter), Linear(512, d) - ReLU = the features, Linear(d, 10).

It is trained on a data set's training images (``train_classifier``, Adam, fixed seed), saved
with a JSON card beside it that holds the weights' sha256 and the test accuracy
(``save_classifier``), and read back only if the sha256 matches (``load_classifier``).
``features`` gives the [N, d] float64 features that ``sample_quality`` compares. These are not
Inception features: distances on them are never called FID.
"""

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import UsageError
from .run_files import atomic_write

FEATURES = 128  # width d of the feature layer
CLASSES = 10
WIDTHS = (32, 64, 128)  # channels of the three conv blocks
POOLED = 2  # side of the adaptive average pool
LEARNING_RATE = 1e-3  # Adam's default
BATCH_SIZE = 128
FEATURE_BATCH = 256
# Epochs per data set. Fashion-MNIST: 91.4% test accuracy after 5 (seed 0, measured on CPU:
# 66-131 s an epoch on one thread of a shared 2-core machine). MNIST, not measured, is the
# easier task at the same cost. Digits: 1,500 training images (11 steps an epoch) reach 99.3%
# after 10 epochs (about 10 s).
EPOCHS = {"digits": 10, "mnist": 5, "fashion-mnist": 5}
DEFAULT_EPOCHS = 5
CARD_KEYS = ("dataset", "seed", "epochs", "test_accuracy")  # what the caller's card must hold


def retrain_command(dataset: str | None) -> str:
    """The command that trains the classifier of ``dataset`` again."""
    return f"wae-bench classifier --dataset {dataset or 'NAME'}"


class FeatureNet(nn.Module):
    """Images [B, C, H, W] in [0, 1] -> [B, 10] logits through [B, d] features (see module)."""

    def __init__(self, channels: int = 1, features: int = FEATURES, classes: int = CLASSES):
        super().__init__()
        self.channels, self.num_features, self.classes = channels, features, classes
        blocks, cin = [], channels
        for i, cout in enumerate(WIDTHS):
            blocks += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)]
            blocks += [nn.ReLU(inplace=True)] + [nn.MaxPool2d(2)] * (i < len(WIDTHS) - 1)
            cin = cout
        self.body = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(POOLED), nn.Flatten())
        self.feature = nn.Sequential(nn.Linear(cin * POOLED**2, features), nn.ReLU(inplace=True))
        self.head = nn.Linear(features, classes)

    def embed(self, images: Tensor) -> Tensor:  # B x C x H x W -> B x d
        """[B, d] features (the head's input) of images [B, C, H, W] in [0, 1]."""
        return self.feature(self.body(images))

    def forward(self, images: Tensor) -> Tensor:  # B x C x H x W -> B x classes
        """[B, classes] logits of images [B, C, H, W] in [0, 1]."""
        return self.head(self.embed(images))


@torch.no_grad()
def accuracy(net: FeatureNet, images: Tensor, labels: Tensor, batch_size: int = FEATURE_BATCH
             ) -> float:  # fmt: skip
    """Fraction of ``images`` whose largest logit is their label (eval mode, batched)."""
    was_training, device = net.training, next(net.parameters()).device
    net.eval()
    right = 0
    for x, y in zip(images.split(batch_size), labels.split(batch_size), strict=True):
        right += int((net(x.to(device)).argmax(1) == y.to(device)).sum())
    net.train(was_training)
    return right / len(images)


def train_classifier(
    train_images: Tensor,
    train_labels: Tensor,
    test_images: Tensor,
    test_labels: Tensor,
    *,
    seed: int = 0,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = BATCH_SIZE,
    device: str | torch.device = "cpu",
    progress: Callable[[int, float], None] | None = None,
) -> tuple[FeatureNet, float]:
    """A ``FeatureNet`` trained on images [N, C, H, W] in [0, 1] with labels [N] in 0..9, and
    its accuracy on the test images.

    Cross-entropy, Adam (lr 1e-3), ``epochs`` passes over the training images in shuffled
    batches of ``batch_size`` (an incomplete last batch is dropped when there is a full one).
    ``seed`` fixes the initial weights (drawn inside ``torch.random.fork_rng``: the global RNG
    is left as it was) and the order of the batches (a generator of its own): on CPU, the same
    inputs, seed and thread count give the same weights bit for bit. ``progress(epoch,
    mean_loss)`` is called after each epoch (epochs counted from 1). Returns (net in eval
    mode on ``device``, test accuracy in [0, 1]).
    """
    labels = train_labels.long()
    if len(train_images) != len(labels) or len(test_images) != len(test_labels):
        raise UsageError(
            f"classifier: {len(train_images)} training images with {len(labels)} labels and "
            f"{len(test_images)} test images with {len(test_labels)} labels; give one label each"
        )
    labelled = len(labels) >= 2 and len(test_labels) >= 1
    if not labelled or not 0 <= int(labels.min()) <= int(labels.max()) < CLASSES:
        raise UsageError(
            f"classifier: needs >= 2 training and >= 1 test images, labels in 0..{CLASSES - 1}; "
            "check the data set's labels"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = FeatureNet(train_images.shape[1])
    net.to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    order_rng = torch.Generator().manual_seed(seed)
    n = len(labels)
    full = n // batch_size * batch_size or n  # drop the incomplete last batch if one is full
    for epoch in range(1, epochs + 1):
        total = 0.0
        for idx in torch.randperm(n, generator=order_rng)[:full].split(batch_size):
            x, y = train_images[idx].to(device), labels[idx].to(device)
            loss = F.cross_entropy(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        if progress is not None:
            progress(epoch, total / full)
    net.eval()
    return net, accuracy(net, test_images, test_labels)


@torch.no_grad()
def features(net: FeatureNet, images: Tensor, batch_size: int = FEATURE_BATCH) -> Tensor:
    """[N, d] float64 features of images [N, C, H, W] in [0, 1], in eval mode, ``batch_size``
    images at a time on the images' device (the net is moved there)."""
    was_training = net.training
    net.to(images.device).eval()
    out = torch.cat([net.embed(x.float()).double() for x in images.split(batch_size)])
    net.train(was_training)
    return out


def card_path(path: str | Path) -> Path:
    """Where the card of the classifier weights at ``path`` lies: ``path`` with suffix .json."""
    return Path(path).with_suffix(".json")


def _weights_bytes(net: FeatureNet) -> bytes:
    """The state dict as torch.save bytes; saved through a buffer, so that the bytes (and the
    sha256) depend on the weights only, not on the file's name (torch names its archive so)."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, buffer)
    return buffer.getvalue()


def weights_sha256(net: FeatureNet) -> str:
    """The sha256 of the bytes ``save_classifier`` writes for ``net``."""
    return hashlib.sha256(_weights_bytes(net)).hexdigest()


def save_classifier(net: FeatureNet, path: str | Path, card: dict) -> dict:
    """Write ``net``'s state dict to ``path`` (.pt) and its card to ``card_path(path)``.

    ``card`` must hold dataset, seed, epochs and test_accuracy (and may hold more); the card
    written adds sha256 (of the .pt bytes), architecture, channels, features (d), classes
    and torch (version). Returns the card written.
    """
    path = Path(path)
    missing = [key for key in CARD_KEYS if key not in card]
    if missing or path.suffix == ".json":
        why = f"the card lacks {', '.join(missing)}" if missing else "the path ends in .json"
        raise UsageError(f"classifier {path}: {why}; give {', '.join(CARD_KEYS)} and a .pt path")
    raw = _weights_bytes(net)
    written = {
        **card,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "architecture": type(net).__name__,
        "channels": net.channels,
        "features": net.num_features,
        "classes": net.classes,
        "torch": torch.__version__,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(raw))
    text = json.dumps(written, indent=2) + "\n"
    atomic_write(card_path(path), lambda tmp: Path(tmp).write_text(text))
    return written


def load_classifier(path: str | Path, dataset: str | None = None) -> tuple[FeatureNet, dict]:
    """(net in eval mode on CPU, card) saved at ``path`` by ``save_classifier``.

    The .pt bytes must have the sha256 its card records, and hold exactly a ``FeatureNet``
    state dict of the card's shape (read with ``torch.load(weights_only=True)``); with
    ``dataset``, the card must name it. Anything else is a one-line ``UsageError``
    "classifier <path>: <what is wrong>; <the command that trains it again>".
    """
    path = Path(path)
    card_file = card_path(path)
    card = None
    try:
        card = json.loads(card_file.read_text())
    except (OSError, ValueError):
        pass
    if not isinstance(card, dict):
        card = None
    name = dataset or (card.get("dataset") if card else None)
    fix = f"train it again: {retrain_command(name)}"

    def fail(why: str) -> UsageError:
        return UsageError(f"classifier {path}: {why}; {fix}")

    if not path.is_file():
        raise fail("no such file")
    if card is None:
        why = "is missing" if not card_file.is_file() else "is not a JSON object"
        raise fail(f"its card {card_file.name} {why}")
    shape_keys = ("sha256", "channels", "features", "classes")
    lacking = [key for key in (*CARD_KEYS, *shape_keys) if key not in card]
    if lacking:
        raise fail(f"its card {card_file.name} lacks {', '.join(lacking)}")
    if dataset is not None and card["dataset"] != dataset:
        raise fail(f"it was trained on {card['dataset']}, not {dataset}")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise fail(f"cannot be read ({err.strerror})") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != card["sha256"]:
        raise fail(
            f"sha256 mismatch: the file's is {digest[:12]}..., its card records "
            f"{str(card['sha256'])[:12]}... (changed since it was saved)"
        )
    try:
        state = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
        net = FeatureNet(int(card["channels"]), int(card["features"]), int(card["classes"]))
        net.load_state_dict(state)
    except Exception as err:  # unpickling errors, wrong keys or shapes: all mean a bad file
        what = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise fail(f"does not hold a {FeatureNet.__name__} state dict ({what[:200]})") from None
    return net.eval(), card
