import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from wae_bench import data as datasets
from wae_bench.errors import UsageError

from tests.helpers.data import (
    fake_cifar10,
    fake_mnist,
    write_images,
)


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
    # bit for bit: the bytes as float32, divided by 255 (one correctly rounded division)
    assert torch.equal(data.train[:, 0, 2:30, 2:30], torch.tensor(train, dtype=torch.uint8) / 255.0)
    assert data.train[:, :, :2].abs().max() == 0


def gzip_in_place(path, *, keep_name=False):
    """Compress ``path`` to ``path``.gz (with ``keep_name``: in place), dropping the plain file."""
    packed = gzip.compress(path.read_bytes(), mtime=0)
    path.unlink()
    target = path if keep_name else path.with_name(path.name + ".gz")
    target.write_bytes(packed)


@pytest.mark.parametrize("keep_name", [False, True], ids=["name.gz", "gzip-named-plain"])
def test_gzipped_idx_files_read_the_same_as_plain_ones(tmp_path, keep_name):
    fake_mnist(tmp_path / "plain")
    fake_mnist(tmp_path / "gz")
    for path in (tmp_path / "gz" / "MNIST" / "raw").iterdir():
        gzip_in_place(path, keep_name=keep_name)
    plain, packed = (datasets.load("mnist", str(tmp_path / n)) for n in ("plain", "gz"))
    assert torch.equal(plain.train, packed.train) and torch.equal(plain.test, packed.test)


def test_cifar10_python_pickle_folder_is_read(tmp_path):
    batches = fake_cifar10(tmp_path)
    data = datasets.load("cifar10", str(tmp_path))
    assert data.train.shape == (20, 3, 32, 32) and data.test.shape == (6, 3, 32, 32)
    train = np.concatenate([batches[f"data_batch_{i}"] for i in range(1, 6)])
    expected = torch.tensor(train).view(-1, 3, 32, 32) / 255.0  # bit for bit, as above
    assert torch.equal(data.train, expected)
    assert torch.equal(data.test, torch.tensor(batches["test_batch"]).view(-1, 3, 32, 32) / 255.0)


def py2_str(raw: bytes) -> bytes:
    """A Python 2 str in a protocol-2 pickle: SHORT_BINSTRING, or BINSTRING when long."""
    if len(raw) < 256:
        return b"U" + bytes([len(raw)]) + raw
    return b"T" + struct.pack("<i", len(raw)) + raw


def py2_cifar_batch(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch pickled the way the official files are (Python 2, protocol 2): str keys, the
    array through numpy.core.multiarray._reconstruct, its bytes as one str; then labels."""
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        + b"K\x00\x85" + py2_str(b"b") + b"\x87R"  # _reconstruct(ndarray, (0,), 'b')
        + b"(K\x01M" + struct.pack("<H", len(data)) + b"M\x00\x0c\x86"  # (1, (n, 3072),
        + b"cnumpy\ndtype\n" + py2_str(b"u1") + b"K\x00K\x01\x87R"  # dtype('u1', 0, 1)
        + b"(K\x03" + py2_str(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"  # its state
        + b"\x89" + py2_str(data.tobytes()) + b"tb"  # False (C order), the bytes); BUILD
    )  # fmt: skip
    items = b"".join(b"K" + bytes([label]) for label in labels)
    return (b"\x80\x02}(" + py2_str(b"data") + array + py2_str(b"labels") + b"](" + items
            + b"eu.")  # fmt: skip


def rewrite_batches(root, dump):
    """Rewrite every batch of a fake CIFAR-10 folder as ``dump(batch)`` bytes."""
    for path in (root / "cifar-10-batches-py").iterdir():
        batch = pickle.loads(path.read_bytes())
        path.write_bytes(dump(batch))


@pytest.mark.parametrize(
    "dump",
    [
        lambda b: py2_cifar_batch(b["data"], b["labels"]),
        lambda b: pickle.dumps({k.encode(): v for k, v in b.items()}),  # bytes keys
        lambda b: pickle.dumps({k.encode(): v for k, v in b.items()}, protocol=2),  # _codecs
        lambda b: pickle.dumps(b, protocol=5),  # numpy's _frombuffer
    ],
    ids=["python2-official-layout", "bytes-keys", "protocol-2-bytes-keys", "protocol-5"],
)
def test_every_pickling_of_a_cifar10_batch_reads_bit_for_bit(tmp_path, dump):
    fake_cifar10(tmp_path / "a")
    fake_cifar10(tmp_path / "b")
    rewrite_batches(tmp_path / "b", dump)
    first = tmp_path / "b" / "cifar-10-batches-py" / "data_batch_1"
    official_reader = pickle.loads(first.read_bytes(), encoding="latin1")  # torchvision's way
    assert {k if isinstance(k, str) else k.decode() for k in official_reader} == {"data", "labels"}
    a, b = (datasets.load("cifar10", str(tmp_path / n)) for n in ("a", "b"))
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)


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
