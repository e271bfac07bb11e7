"""``wae-bench classifier``: train the feature network of the offline sample-quality metric.

One command, a fixed seed: the data set's training images and labels (digits, MNIST or
Fashion-MNIST) train a ``feature_net.FeatureNet``; its weights go to ``--out`` (default
``classifiers/<dataset>.pt``) with a JSON card beside them holding their sha256, the test
accuracy and the data set's provenance. ``wae-bench image --classifier PATH`` then adds the
classifier Frechet distance, precision and recall to every evaluation and records the card.
"""

import sys
from pathlib import Path

from . import data, feature_net
from .environment import resolve_device
from .errors import UsageError

DEFAULT_FOLDER = Path("classifiers")


def default_path(dataset: str) -> Path:
    """Where ``wae-bench classifier --dataset NAME`` writes by default."""
    return DEFAULT_FOLDER / f"{dataset}.pt"


def train(dataset: str, data_root: str = "data", out: Path | None = None, *, seed: int = 0,
          epochs: int | None = None, device: str = "auto", overwrite: bool = False,
          quiet: bool = False) -> tuple[Path, dict]:  # fmt: skip
    """Train, test and save the classifier of ``dataset``; returns (weights path, card).

    An existing file at ``out`` is kept unless ``overwrite``: runs recorded its sha256.
    """
    out = Path(out) if out else default_path(dataset)
    if out.exists() and not overwrite:
        raise UsageError(
            f"classifier {out} exists (runs may have recorded its sha256); pass --overwrite to "
            "replace it or --out PATH for another file"
        )
    if epochs is not None and epochs < 1:
        raise UsageError(f"--epochs must be >= 1, got {epochs}")
    images = data.load(dataset, data_root)
    if images.labels is None:
        labelled = ", ".join(name for name in feature_net.EPOCHS)
        raise UsageError(f"classifier: {dataset} has no class labels here; use {labelled}")
    epochs = epochs or feature_net.EPOCHS.get(dataset, feature_net.DEFAULT_EPOCHS)
    where = resolve_device(device)

    def progress(epoch: int, loss: float) -> None:
        if not quiet:
            print(f"classifier {dataset}: epoch {epoch}/{epochs}, training loss {loss:.4f}",
                  file=sys.stderr)  # fmt: skip

    (train_labels, test_labels) = images.labels
    net, test_accuracy = feature_net.train_classifier(
        images.train, train_labels, images.test, test_labels, seed=seed, epochs=epochs,
        device=where, progress=progress,
    )  # fmt: skip
    card = {"dataset": dataset, "seed": seed, "epochs": epochs, "test_accuracy": test_accuracy,
            "train_images": len(images.train), "test_images": len(images.test),
            "data_folder": images.folder, "release": images.release,
            "device": where.type}  # fmt: skip
    return out, feature_net.save_classifier(net, out, card)
