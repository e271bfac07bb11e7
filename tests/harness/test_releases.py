"""Whether the files trained on are the official release: the verdict in config.json's data and
the sentence of summary.md. Generated files stand in for the official ones by registering
their md5 in place of the published one."""

import gzip

import pytest
import torchvision.datasets as tv

from wae_bench import data as datasets
from wae_bench import releases

from tests.helpers.data import fake_cifar10, fake_mnist, write_images

BATCHES = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
IDX = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]  # fmt: skip


def test_the_checksums_are_torchvisions():
    listed = {
        "mnist": dict(tv.MNIST.resources),
        "fashion-mnist": dict(tv.FashionMNIST.resources),
        "cifar10": dict(tv.CIFAR10.train_list + tv.CIFAR10.test_list),
        "celeba": {name: md5 for _, md5, name in tv.CelebA.file_list
                   if name == "list_eval_partition.txt"},  # fmt: skip
    }
    assert releases.OFFICIAL_MD5 == listed


def register_as_official(monkeypatch, dataset, folder, names):
    """Make the files ``names`` in ``folder`` the 'official release' of ``dataset``."""
    md5s = {name: releases.md5((folder / name).read_bytes()) for name in names}
    monkeypatch.setitem(releases.OFFICIAL_MD5, dataset, md5s)


def test_cifar10_official_then_one_batch_modified(tmp_path, monkeypatch):
    fake_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    register_as_official(monkeypatch, "cifar10", folder, BATCHES)
    release = datasets.load("cifar10", str(tmp_path)).release
    assert release == {"verdict": "official", "files": dict.fromkeys(BATCHES, "official")}
    assert releases.sentence("cifar10", release) == (
        "Data: the official cifar10 release (every file's md5 as torchvision lists it)."
    )
    raw = bytearray((folder / "data_batch_3").read_bytes())
    raw[len(raw) // 2] ^= 1  # one bit of one pixel: still a valid batch
    (folder / "data_batch_3").write_bytes(bytes(raw))
    release = datasets.load("cifar10", str(tmp_path)).release
    assert release["verdict"] == "modified"
    assert [f for f, state in release["files"].items() if state == "modified"] == ["data_batch_3"]
    assert releases.sentence("cifar10", release) == (
        "Data: MODIFIED cifar10: data_batch_3 differs from the official release (md5 as "
        "torchvision lists it); these results are not on the official data."
    )


def gzip_beside(raw_folder):
    """torchvision's download: the official .gz files beside the files extracted from them."""
    for name in IDX:
        plain = raw_folder / name
        plain.with_name(f"{name}.gz").write_bytes(gzip.compress(plain.read_bytes(), mtime=0))


def test_mnist_plain_files_are_checked_through_the_gz_beside_them(tmp_path, monkeypatch):
    fake_mnist(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    release = datasets.load("mnist", str(tmp_path)).release
    assert release == {"verdict": "unchecked", "files": dict.fromkeys(IDX, "unchecked"),
                       "note": releases.GZ_NOTE}  # fmt: skip
    assert releases.sentence("mnist", release) == (
        f"Data: mnist, not checked against the official release: {', '.join(IDX)} "
        f"({releases.GZ_NOTE})."
    )
    gzip_beside(raw)
    register_as_official(monkeypatch, "mnist", raw, [f"{n}.gz" for n in IDX])
    assert datasets.load("mnist", str(tmp_path)).release["verdict"] == "official"
    plain = raw / "t10k-images-idx3-ubyte"
    changed = bytearray(plain.read_bytes())
    changed[-1] ^= 1  # one bit of one pixel
    plain.write_bytes(bytes(changed))
    release = datasets.load("mnist", str(tmp_path)).release
    assert release["verdict"] == "modified" and release["files"][plain.name] == "modified"
    assert list(release["files"].values()).count("official") == 3


def test_mnist_read_from_the_gz_files_alone(tmp_path, monkeypatch):
    fake_mnist(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    gzip_beside(raw)
    register_as_official(monkeypatch, "mnist", raw, [f"{n}.gz" for n in IDX])
    for name in IDX:
        (raw / name).unlink()
    assert datasets.load("mnist", str(tmp_path)).release["verdict"] == "official"
    packed = raw / "train-labels-idx1-ubyte.gz"
    packed.write_bytes(gzip.compress(gzip.decompress(packed.read_bytes()), mtime=1))
    release = datasets.load("mnist", str(tmp_path)).release  # same content, other bytes
    assert release["files"]["train-labels-idx1-ubyte"] == "modified"


def test_celeba_images_are_never_called_official(tmp_path, monkeypatch):
    folder = tmp_path / "celeba"
    write_images([folder / "img_align_celeba" / f"{i}.jpg" for i in (1, 2)], size=(20, 24))
    (folder / "list_eval_partition.txt").write_text("1.jpg 0\n2.jpg 2\n")
    register_as_official(monkeypatch, "celeba", folder, ["list_eval_partition.txt"])
    release = datasets.load("celeba", str(tmp_path)).release
    assert release == {
        "verdict": "unchecked",
        "files": {"list_eval_partition.txt": "official", "img_align_celeba/": "unchecked"},
        "note": releases.CELEBA_NOTE,
    }
    assert releases.sentence("celeba", release) == (
        f"Data: celeba, not checked against the official release: img_align_celeba/ "
        f"({releases.CELEBA_NOTE})."
    )


@pytest.mark.parametrize("name", ["digits", "folder"])
def test_data_without_an_official_release_records_none(tmp_path, name):
    write_images([tmp_path / f"{i}.png" for i in range(3)])
    assert datasets.load(name, str(tmp_path), size=8).release is None
    assert releases.sentence(name, None) == ""
