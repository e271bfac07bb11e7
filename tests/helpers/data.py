"""Fake data sets in the official layouts (MNIST idx files, CIFAR-10 pickles, image folders),
synthetic images and a random network standing in for Inception."""

import pickle
import struct

import numpy as np
import torch
from PIL import Image
from torch import nn


def write_idx_images(path, images):
    n, rows, cols = images.shape
    path.write_bytes(struct.pack(">IIII", 2051, n, rows, cols) + images.astype(np.uint8).tobytes())


def write_idx_labels(path, labels):
    path.write_bytes(struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


def write_mnist_files(folder, n_train=12, n_test=5, seed=0):
    """The four idx files of a small MNIST-like set, plain, in ``folder``; its train images."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    train = rng.integers(0, 256, (n_train, 28, 28))
    write_idx_images(folder / "train-images-idx3-ubyte", train)
    write_idx_labels(folder / "train-labels-idx1-ubyte", np.zeros(n_train))
    write_idx_images(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28)))
    write_idx_labels(folder / "t10k-labels-idx1-ubyte", np.zeros(n_test))
    return train


def fake_mnist(root, folder="MNIST", n_train=12, n_test=5):
    """A small MNIST-like set in torchvision's tree, ``root/folder/raw/``; its train images."""
    (root / folder / "raw").mkdir(parents=True)
    return write_mnist_files(root / folder / "raw", n_train, n_test)


def fake_cifar10(root, per_batch=4, n_test=6):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name, n in [*((f"data_batch_{i}", per_batch) for i in range(1, 6)), ("test_batch", n_test)]:
        batches[name] = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": batches[name], "labels": [0] * n}, f)
    return batches


def write_images(paths, size=(40, 30)):
    rng = np.random.default_rng(0)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(path)


def random_conv(seed=0):
    """A small fixed random network: RGB [B, 3, H, W] -> [B, 8]."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    )


def blobs(n, size=16, seed=0):
    """A different dataset: one bright Gaussian blob per image at a random place."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.rand(n, 2, generator=g) * size
    grid = torch.arange(size, dtype=torch.float32)
    dy = (grid[None, :, None] - centers[:, 0, None, None]) ** 2
    dx = (grid[None, None, :] - centers[:, 1, None, None]) ** 2
    return torch.exp(-(dx + dy) / 8.0)[:, None]
