"""Image datasets, read from local folders (no network unless --download).

Every loader returns an ``ImageData`` whose splits are either in-memory float tensors
[N, C, H, W] in [0, 1] (digits, mnist, fashion-mnist, cifar10) or lazy datasets of such
images (celeba, folder). Missing or damaged files raise ``UsageError`` naming what was
expected where (``data_files`` reads the standard formats), before any run starts. For MNIST,
Fashion-MNIST, CIFAR-10 and CelebA, ``release`` says whether the files are the official ones
(``releases``), and ``folder`` says where they were read from.

MNIST and Fashion-MNIST's four idx files (each plain or .gz) are looked for, in order, in
``<root>/MNIST/raw/`` (``FashionMNIST/raw/``: torchvision's tree, where ``--download`` puts
them), in ``<root>`` itself, and in the folder an operating-system package installs them in
(``SYSTEM_PACKAGES``). The first folder that holds all four is read, and only it: files are
never mixed from two folders, and a folder that holds some but not all is passed over with a
warning on stderr naming what it lacks. When no folder holds all four, one ``UsageError``
names every folder tried and the ways to get the files.
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from . import data_files, releases
from .errors import UsageError

DIGITS_SIZE = 16
DIGITS_TEST = 297  # 1797 = 1500 train + 297 test
FOLDER_TEST_FRACTION = 0.1
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
NAMED_UNREADABLE = 5  # how many unreadable files the warning names
IDX_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]  # fmt: skip
# Operating-system packages that install a data set's four idx files in one flat folder,
# {dataset: (package, folder)}, searched after --data-root. Debian's dataset-fashion-mnist
# keeps the official files recompressed (other .gz bytes, the same content). No Debian package
# holds MNIST (`apt-cache search mnist` lists only this one), so MNIST has no entry.
SYSTEM_PACKAGES = {
    "fashion-mnist": ("dataset-fashion-mnist", Path("/usr/share/datasets/fashion-mnist")),
}


@dataclass
class ImageData:
    """A data set's train and test splits, channels, image side, ``release`` verdict (None
    for digits and folder, which have no official release), the ``folder`` its files were
    read from ("" for the embedded digits) and its class ``labels`` (digits, MNIST and
    Fashion-MNIST: int64 tensors beside the train and test images)."""

    name: str
    train: Tensor | Dataset
    test: Tensor | Dataset
    channels: int
    size: int
    release: dict | None = None  # releases.verdict of the files read
    folder: str = ""  # the folder read, as found (relative when --data-root is)
    labels: tuple[Tensor, Tensor] | None = None  # (train, test) class labels, where known


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


def _locate(dataset: str, folder: Path, names: list[str], hint: str = "") -> dict[str, Path]:
    """{name: its path in ``folder``}; one ``UsageError`` naming those missing."""
    found = {name: folder / name for name in names}
    missing = [name for name, path in found.items() if not path.exists()]
    if missing:
        raise UsageError(
            f"{dataset}: expected {', '.join(names)} in {folder} (missing: "
            f"{', '.join(missing)}); pass --data-root DIR{hint}"
        )
    return found


def _digits(root, download, size) -> ImageData:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16.0
    images = F.interpolate(images, size=DIGITS_SIZE, mode="bilinear", align_corners=False)
    labels = torch.as_tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    test, train = order[:DIGITS_TEST], order[DIGITS_TEST:]
    return ImageData("digits", images[train].clamp(0, 1), images[test].clamp(0, 1), 1,
                     DIGITS_SIZE, labels=(labels[train], labels[test]))  # fmt: skip


def _idx_files(folder: Path) -> tuple[dict[str, Path], str]:
    """The idx files ``folder`` holds ({name: NAME, else NAME.gz}) and, when it lacks any,
    why it cannot be read ("" when it holds all four)."""
    if not folder.is_dir():
        return {}, "no such folder"
    found = {}
    for name in IDX_FILES:
        path = next((p for p in (folder / name, folder / f"{name}.gz") if p.exists()), None)
        if path is not None:
            found[name] = path
    if not found:
        return found, "none of them"
    missing = [name for name in IDX_FILES if name not in found]
    return found, f"missing {', '.join(missing)}" if missing else ""


def _find_idx_folder(name: str, root, folder_name: str) -> tuple[Path, dict[str, Path]]:
    """The first folder holding all four idx files of ``name`` and their paths in it: the
    torchvision tree under ``root``, ``root`` itself, then the system package's folder."""
    package = SYSTEM_PACKAGES.get(name)
    candidates = [Path(root) / folder_name / "raw", Path(root), *([package[1]] if package else [])]
    tried, partial, seen = [], [], set()
    for folder in candidates:
        if os.path.abspath(folder) in seen:  # --data-root may be the system folder itself
            continue
        seen.add(os.path.abspath(folder))
        files, lacks = _idx_files(folder)
        if not lacks:
            if partial:
                print(f"wae-bench: warning: {name}: passing over {'; '.join(partial)}; reading "
                      f"all four files from {folder}", file=sys.stderr)  # fmt: skip
            return folder, files
        tried.append(f"{folder} ({lacks})")
        if files:
            partial.append(tried[-1])
    fixes = [f"pass --data-root DIR holding {folder_name}/raw/ or the four files"]
    if package:
        fixes.append(f"install them with apt-get install {package[0]}")
    raise UsageError(
        f"{name}: expected {', '.join(IDX_FILES)} (each may be NAME.gz) together in one folder; "
        f"tried {', '.join(tried)}; {', '.join(fixes)}, or add --download when online"
    )


def _mnist_like(name: str, folder_name: str, tv_class: str):
    def load(root, download, size) -> ImageData:
        if download:
            import torchvision

            getattr(torchvision.datasets, tv_class)(root, train=True, download=True)
            getattr(torchvision.datasets, tv_class)(root, train=False, download=True)
        folder, files = _find_idx_folder(name, root, folder_name)
        states, matched = {}, {}

        def read(file: str, item_shape: tuple[int, ...], noun: str) -> Tensor:
            path = files[file]
            raw_bytes = data_files.read_bytes(name, path)
            gzipped = data_files.is_gzip(raw_bytes)
            content = data_files.gunzip(name, path, raw_bytes) if gzipped else raw_bytes
            states[file], how = releases.idx_release(name, file, raw_bytes, content)
            if how:
                matched[file] = how
            return data_files.parse_idx(name, path, content, item_shape, noun)

        def split(prefix):  # 28x28 zero-padded to 32x32 so that A1/A2 and the metric apply
            images = read(f"{prefix}-images-idx3-ubyte", (28, 28), "images")
            labels = read(f"{prefix}-labels-idx1-ubyte", (), "labels")
            if len(labels) != len(images):
                raise data_files.damaged(name, files[f"{prefix}-labels-idx1-ubyte"],
                                         f"holds {len(labels)} labels for {len(images)} images")
            return F.pad(images.float()[:, None] / 255.0, (2, 2, 2, 2)), labels.long()

        (train, train_labels), (test, test_labels) = split("train"), split("t10k")
        release = releases.verdict(states, matched=matched)
        return ImageData(name, train, test, 1, 32, release, str(folder),
                         (train_labels, test_labels))  # fmt: skip

    return load


def _cifar10(root, download, size) -> ImageData:
    if download:
        import torchvision

        torchvision.datasets.CIFAR10(root, download=True)
    folder = Path(root) / "cifar-10-batches-py"
    train_files = [f"data_batch_{i}" for i in range(1, 6)]
    _locate("cifar10", folder, [*train_files, "test_batch"],
            " holding cifar-10-batches-py/, or add --download when online")  # fmt: skip
    states = {}

    def read(file: str) -> np.ndarray:
        raw = data_files.read_bytes("cifar10", folder / file)
        states[file] = releases.file_release("cifar10", file, raw)
        return data_files.read_cifar_batch("cifar10", folder / file, raw)

    def load(files):
        data = np.concatenate([read(f) for f in files])
        return torch.from_numpy(data).view(-1, 3, 32, 32).float() / 255.0

    train, test = load(train_files), load(["test_batch"])
    return ImageData("cifar10", train, test, 3, 32, releases.verdict(states), str(folder))


def _celeba(root, download, size) -> ImageData:
    if download:
        import torchvision

        torchvision.datasets.CelebA(root, split="all", download=True)
    folder = Path(root) / "celeba"
    _locate("celeba", folder, [data_files.CELEBA_IMAGES, "list_eval_partition.txt"],
            " holding celeba/, or add --download when online")  # fmt: skip
    partition = folder / "list_eval_partition.txt"
    raw = data_files.read_bytes("celeba", partition)
    splits = data_files.read_partition("celeba", partition, raw)  # 0 train, 1 val., 2 test
    paths = {s: [folder / data_files.CELEBA_IMAGES / n for n in splits[s]] for s in ("0", "2")}
    _check_celeba_images(partition, [*paths["0"], *paths["2"]])
    states = {partition.name: releases.file_release("celeba", partition.name, raw),
              f"{data_files.CELEBA_IMAGES}/": releases.UNCHECKED}  # fmt: skip
    release = releases.verdict(states, releases.CELEBA_NOTE)
    # 140x140 center crop resized to 64x64, as the paper
    return ImageData("celeba", ImageFiles(paths["0"], 140, 64), ImageFiles(paths["2"], 140, 64),
                     3, 64, release, str(folder))  # fmt: skip


def _check_celeba_images(partition: Path, paths: list[Path]) -> None:
    """Every image the partition names exists and decodes; else one line naming a few."""
    missing = [p for p in paths if not p.is_file()]
    problem = "names images that are not there"
    if not missing:
        missing = [p for p in paths if not decodes(p)]
        problem = "names images that do not decode"
    if missing:
        names = ", ".join(p.name for p in missing[:NAMED_UNREADABLE])
        more = len(missing) - NAMED_UNREADABLE
        more = f" and {more} more" if more > 0 else ""
        raise data_files.damaged(
            "celeba", partition, f"{problem} ({names}{more}, in {paths[0].parent})",
            f"extract {data_files.CELEBA_IMAGES}.zip again (or delete {paths[0].parent.name}/ "
            "and add --download when online)",
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
    return ImageData("folder", ImageFiles(train, None, size), ImageFiles(test, None, size), 3, size,
                     folder=str(folder))  # fmt: skip


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
