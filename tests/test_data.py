import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from wae_bench import data as datasets
from wae_bench.errors import UsageError


def write_idx_images(path, images):
    n, rows, cols = images.shape
    path.write_bytes(struct.pack(">IIII", 2051, n, rows, cols) + images.astype(np.uint8).tobytes())


def write_idx_labels(path, labels):
    path.write_bytes(struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


def fake_mnist(root, folder="MNIST", n_train=12, n_test=5):
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (n_train, 28, 28))
    write_idx_images(raw / "train-images-idx3-ubyte", train)
    write_idx_labels(raw / "train-labels-idx1-ubyte", np.zeros(n_train))
    write_idx_images(raw / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28)))
    write_idx_labels(raw / "t10k-labels-idx1-ubyte", np.zeros(n_test))
    return train


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


def test_embedded_digits_are_a_fixed_16px_split():
    a, b = datasets.load("digits"), datasets.load("digits")
    assert a.train.shape == (1500, 1, 16, 16) and a.test.shape == (297, 1, 16, 16)
    assert torch.equal(a.test, b.test)
    assert 0 <= a.train.min() and a.train.max() <= 1 and a.train.max() > 0.9


@pytest.mark.parametrize(
    ("name", "folder"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")]
)
def test_mnist_format_is_read_and_padded_to_32px(tmp_path, name, folder):
    train = fake_mnist(tmp_path, folder)
    data = datasets.load(name, str(tmp_path))
    assert data.train.shape == (12, 1, 32, 32) and data.test.shape == (5, 1, 32, 32)
    torch.testing.assert_close(
        data.train[:, 0, 2:30, 2:30], torch.tensor(train / 255.0, dtype=torch.float32)
    )
    assert data.train[:, :, :2].abs().max() == 0


def test_cifar10_python_pickle_folder_is_read(tmp_path):
    batches = fake_cifar10(tmp_path)
    data = datasets.load("cifar10", str(tmp_path))
    assert data.train.shape == (20, 3, 32, 32) and data.test.shape == (6, 3, 32, 32)
    first = torch.tensor(batches["data_batch_1"][0].reshape(3, 32, 32) / 255.0, dtype=torch.float32)
    torch.testing.assert_close(data.train[0], first)


def test_celeba_is_center_cropped_to_64px_by_partition(tmp_path):
    folder = tmp_path / "celeba"
    names = [f"{i:06d}.jpg" for i in range(1, 8)]
    write_images([folder / "img_align_celeba" / n for n in names], size=(178, 218))
    splits = [0, 0, 0, 1, 2, 2, 0]
    (folder / "list_eval_partition.txt").write_text(
        "".join(f"{n} {s}\n" for n, s in zip(names, splits, strict=True))
    )
    data = datasets.load("celeba", str(tmp_path))
    assert (len(data.train), len(data.test)) == (4, 2)
    assert data.train[0].shape == (3, 64, 64) and datasets.take(data.test, 5).shape == (
        2,
        3,
        64,
        64,
    )


def test_image_folder_is_split_and_resized(tmp_path):
    write_images([tmp_path / cls / f"{i}.png" for cls in ("cats", "dogs") for i in range(10)])
    data = datasets.load("folder", str(tmp_path), size=32)
    assert (len(data.train), len(data.test)) == (18, 2)
    assert data.train[3].shape == (3, 32, 32)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mnist", "mnist: expected train-images-idx3-ubyte, train-labels-idx1-ubyte"),
        ("cifar10", "cifar10: expected data_batch_1, data_batch_2"),
        ("celeba", "celeba: expected img_align_celeba, list_eval_partition.txt"),
        ("folder", "folder: expected image files"),
    ],
)
def test_missing_dataset_names_the_expected_files(tmp_path, name, expected):
    with pytest.raises(UsageError, match=expected) as err:
        datasets.load(name, str(tmp_path))
    assert "--data-root" in str(err.value) and "\n" not in str(err.value)


def test_batches_cover_every_image_once_per_epoch():
    images = torch.arange(10.0).view(10, 1, 1, 1)
    seen = torch.cat(list(datasets.batches(images, 4, torch.Generator().manual_seed(0), "cpu")))
    assert sorted(seen.flatten().tolist()) == list(range(10))
