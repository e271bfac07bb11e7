"""Image datasets, read from local folders (no network unless --download).

Every loader returns an ``ImageData`` whose splits are either in-memory float tensors
[N, C, H, W] in [0, 1] (digits, mnist, fashion-mnist, cifar10) or lazy datasets of such
images (celeba, folder). Missing files raise ``UsageError`` naming what was expected where.
"""

import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from .errors import UsageError

DIGITS_SIZE = 16
DIGITS_TEST = 297  # 1797 = 1500 train + 297 test
FOLDER_TEST_FRACTION = 0.1
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
NAMED_UNREADABLE = 5  # how many unreadable files the warning names


@dataclass
class ImageData:
    name: str
    train: Tensor | Dataset
    test: Tensor | Dataset
    channels: int
    size: int


class ImageFiles(Dataset):
    """Image files -> center crop -> resize -> float tensor [C, size, size] in [0, 1]."""

    def __init__(self, paths: list[Path], crop: int | None, size: int):
        from torchvision import transforms

        steps = [transforms.CenterCrop(crop)] if crop else []
        steps += [transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor()]
        self.paths, self.transform = paths, transforms.Compose(steps)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Tensor:
        from PIL import Image

        with Image.open(self.paths[i]) as image:
            return self.transform(image.convert("RGB"))


def _missing(dataset: str, folder: Path, names: list[str], hint: str = "") -> None:
    missing = [n for n in names if not (folder / n).exists()]
    if missing:
        raise UsageError(
            f"{dataset}: expected {', '.join(names)} in {folder} (missing: {', '.join(missing)}); "
            f"pass --data-root DIR{hint}"
        )


def _digits(root, download, size) -> ImageData:
    from sklearn.datasets import load_digits

    images = torch.tensor(load_digits().images, dtype=torch.float32)[:, None] / 16.0
    images = F.interpolate(images, size=DIGITS_SIZE, mode="bilinear", align_corners=False)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    test, train = order[:DIGITS_TEST], order[DIGITS_TEST:]
    return ImageData("digits", images[train].clamp(0, 1), images[test].clamp(0, 1), 1, DIGITS_SIZE)


def _mnist_like(name: str, folder_name: str, tv_class: str):
    def load(root, download, size) -> ImageData:
        import torchvision

        if download:
            getattr(torchvision.datasets, tv_class)(root, train=True, download=True)
            getattr(torchvision.datasets, tv_class)(root, train=False, download=True)
        raw = Path(root) / folder_name / "raw"
        files = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]  # fmt: skip
        _missing(name, raw, files, f" holding {folder_name}/raw/, or add --download when online")
        from torchvision.datasets.mnist import read_image_file

        def split(prefix):  # 28x28 zero-padded to 32x32 so that A1/A2 and the metric apply
            x = read_image_file(str(raw / f"{prefix}-images-idx3-ubyte")).float() / 255.0
            return F.pad(x[:, None], (2, 2, 2, 2))

        return ImageData(name, split("train"), split("t10k"), 1, 32)

    return load


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def _cifar10(root, download, size) -> ImageData:
    if download:
        import torchvision

        torchvision.datasets.CIFAR10(root, download=True)
    folder = Path(root) / "cifar-10-batches-py"
    train_files = [f"data_batch_{i}" for i in range(1, 6)]
    _missing("cifar10", folder, [*train_files, "test_batch"],
             " holding cifar-10-batches-py/, or add --download when online")  # fmt: skip

    def load(files):
        data = np.concatenate([_unpickle(folder / f)["data"] for f in files])
        return torch.from_numpy(data).view(-1, 3, 32, 32).float() / 255.0

    return ImageData("cifar10", load(train_files), load(["test_batch"]), 3, 32)


def _celeba(root, download, size) -> ImageData:
    if download:
        import torchvision

        torchvision.datasets.CelebA(root, split="all", download=True)
    folder = Path(root) / "celeba"
    _missing("celeba", folder, ["img_align_celeba", "list_eval_partition.txt"],
             " holding celeba/, or add --download when online")  # fmt: skip
    splits: dict[str, list[Path]] = {"0": [], "2": []}  # 0 train, 1 validation, 2 test
    for line in (folder / "list_eval_partition.txt").read_text().split("\n"):
        if line.strip():
            name, split = line.split()
            if split in splits:
                splits[split].append(folder / "img_align_celeba" / name)
    # 140x140 center crop resized to 64x64, as the paper
    return ImageData(
        "celeba", ImageFiles(splits["0"], 140, 64), ImageFiles(splits["2"], 140, 64), 3, 64
    )


def decodes(path: Path) -> bool:
    """Whether PIL decodes every pixel of ``path`` (``verify()`` misses cut-off pixel data)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
    except Exception:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError...
        return False
    return True


def _usable_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` that decode; the others are named once on stderr."""
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    good, bad = [], []
    for p in paths:
        (good if decodes(p) else bad).append(p)
    if bad:
        names = [str(p.relative_to(folder)) for p in bad[:NAMED_UNREADABLE]]
        more = f" and {len(bad) - len(names)} more" if len(bad) > len(names) else ""
        print(
            f"wae-bench: warning: folder: skipping {len(bad)} unreadable image file"
            f"{'s' * (len(bad) > 1)} under {folder}: {', '.join(names)}{more}",
            file=sys.stderr,
        )
    return good


def _folder(root, download, size) -> ImageData:
    folder = Path(root)
    if not folder.is_dir():
        raise UsageError(f"folder: {folder} is not a directory; pass --data-root DIR of images")
    paths = _usable_images(folder)
    if len(paths) < 2:
        raise UsageError(
            f"folder: expected image files ({', '.join(sorted(IMAGE_SUFFIXES))}) under {folder}, "
            f"found {len(paths)} readable (2 needed); pass --data-root DIR of images"
        )
    order = torch.randperm(len(paths), generator=torch.Generator().manual_seed(0)).tolist()
    n_test = max(1, round(FOLDER_TEST_FRACTION * len(paths)))
    test = [paths[i] for i in sorted(order[:n_test])]
    train = [paths[i] for i in sorted(order[n_test:])]
    return ImageData("folder", ImageFiles(train, None, size), ImageFiles(test, None, size), 3, size)


LOADERS = {
    "digits": _digits,
    "mnist": _mnist_like("mnist", "MNIST", "MNIST"),
    "fashion-mnist": _mnist_like("fashion-mnist", "FashionMNIST", "FashionMNIST"),
    "cifar10": _cifar10,
    "celeba": _celeba,
    "folder": _folder,
}


def load(name: str, root: str = "data", download: bool = False, size: int = 64) -> ImageData:
    """Dataset ``name`` from ``root``; ``size`` is the side length for ``folder`` images."""
    if name not in LOADERS:
        raise UsageError(f"unknown dataset {name!r}; choose from {', '.join(LOADERS)}")
    return LOADERS[name](root, download, size)


def take(split: Tensor | Dataset, n: int) -> Tensor:
    """The first n images of a split as one tensor."""
    if isinstance(split, Tensor):
        return split[:n]
    return torch.stack([split[i] for i in range(min(n, len(split)))])


def batches(split, batch_size: int, generator: torch.Generator, device, workers: int = 2):
    """Shuffled mini-batches on ``device``; tensors are indexed directly, datasets loaded."""
    if isinstance(split, Tensor):
        order = torch.randperm(len(split), generator=generator).to(split.device)
        for idx in order.split(batch_size):
            yield split[idx].to(device, non_blocking=True)
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(split, batch_size=batch_size, shuffle=True, generator=generator,
                        num_workers=workers, persistent_workers=False)  # fmt: skip
    for x in loader:
        yield x.to(device, non_blocking=True)
