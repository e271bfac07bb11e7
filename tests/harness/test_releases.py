"""Whether the files trained on are the official release: the verdict in config.json's data and
the sentence of summary.md. Generated files stand in for the official ones by registering
their md5 in place of the published one."""

import gzip
import json

import pytest
import torchvision.datasets as tv

from wae_bench import data as datasets
from wae_bench import releases

from tests.helpers.data import fake_cifar10, fake_mnist, write_images

BATCHES = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
IDX = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]  # fmt: skip
TREES = [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")]  # data set, torchvision folder


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


def register_content(monkeypatch, dataset, folder):
    """Make the content of the plain idx files in ``folder`` the official content of
    ``dataset`` (its .gz md5s stay the published ones, which no generated file has)."""
    md5s = {name: releases.md5((folder / name).read_bytes()) for name in IDX}
    monkeypatch.setitem(releases.OFFICIAL_CONTENT_MD5, dataset, md5s)


def flip_one_bit(path, at=-1):
    """One bit of one byte (by default the last pixel or label) of a plain file."""
    changed = bytearray(path.read_bytes())
    changed[at] ^= 1
    path.write_bytes(bytes(changed))


def gzip_each(folder, mtime=0):
    """Every idx file of ``folder`` as NAME.gz only (``mtime`` changes the gzip bytes alone)."""
    for name in IDX:
        plain = folder / name
        plain.with_name(f"{name}.gz").write_bytes(gzip.compress(plain.read_bytes(), mtime=mtime))
        plain.unlink()


def test_the_content_checksums_name_every_published_idx_file():
    for dataset in ("mnist", "fashion-mnist"):
        published = {name.removesuffix(".gz") for name in releases.OFFICIAL_MD5[dataset]}
        assert set(releases.OFFICIAL_CONTENT_MD5[dataset]) == published == set(IDX)
        assert all(len(md5) == 32 for md5 in releases.OFFICIAL_CONTENT_MD5[dataset].values())


@pytest.mark.parametrize(("dataset", "tree"), TREES)
def test_generated_idx_files_are_modified_not_unchecked(tmp_path, dataset, tree):
    fake_mnist(tmp_path, tree)
    release = datasets.load(dataset, str(tmp_path)).release
    assert release == {"verdict": "modified", "files": dict.fromkeys(IDX, "modified")}
    assert releases.sentence(dataset, release) == (
        f"Data: MODIFIED {dataset}: {', '.join(IDX)} differ from the official release (md5 as "
        "torchvision lists it); these results are not on the official data."
    )


@pytest.mark.parametrize(("dataset", "tree"), TREES)
def test_plain_idx_files_are_official_by_content_until_one_bit_changes(tmp_path, monkeypatch,
                                                                       dataset, tree):  # fmt: skip
    fake_mnist(tmp_path, tree)
    raw = tmp_path / tree / "raw"
    register_content(monkeypatch, dataset, raw)
    release = datasets.load(dataset, str(tmp_path)).release
    assert release == {"verdict": "official", "files": dict.fromkeys(IDX, "official"),
                       "matched": dict.fromkeys(IDX, "content")}  # fmt: skip
    assert json.loads(json.dumps(release)) == release
    assert releases.sentence(dataset, release) == (
        f"Data: the official {dataset} release (every file's decompressed content has the "
        "official md5)."
    )
    flip_one_bit(raw / "t10k-images-idx3-ubyte")
    release = datasets.load(dataset, str(tmp_path)).release
    assert release["verdict"] == "modified"
    assert release["files"] == {**dict.fromkeys(IDX, "official"),
                                "t10k-images-idx3-ubyte": "modified"}  # fmt: skip
    assert release["matched"] == {n: "content" for n in IDX if n != "t10k-images-idx3-ubyte"}
    assert releases.sentence(dataset, release).startswith(
        f"Data: MODIFIED {dataset}: t10k-images-idx3-ubyte differs from the official release"
    )


@pytest.mark.parametrize(("dataset", "tree"), TREES)
def test_recompressed_idx_files_are_official_by_content_and_a_flipped_bit_is_not(
        tmp_path, monkeypatch, dataset, tree):  # fmt: skip
    fake_mnist(tmp_path, tree)
    raw = tmp_path / tree / "raw"
    register_content(monkeypatch, dataset, raw)
    gzip_each(raw, mtime=1)  # other gzip bytes than any published .gz: a distribution's copy
    release = datasets.load(dataset, str(tmp_path)).release
    assert release["verdict"] == "official" and release["matched"] == dict.fromkeys(IDX, "content")
    labels = raw / "train-labels-idx1-ubyte.gz"
    changed = bytearray(gzip.decompress(labels.read_bytes()))
    changed[-1] ^= 1  # one bit of one label, recompressed: a valid .gz of other data
    labels.write_bytes(gzip.compress(bytes(changed), mtime=1))
    release = datasets.load(dataset, str(tmp_path)).release
    assert release["verdict"] == "modified"
    assert release["files"]["train-labels-idx1-ubyte"] == "modified"
    assert "train-labels-idx1-ubyte" not in release["matched"]
    assert list(release["files"].values()).count("official") == 3


def test_the_official_gz_bytes_match_as_gzip_and_mixed_matches_are_named(tmp_path, monkeypatch):
    fake_mnist(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    register_content(monkeypatch, "mnist", raw)
    gzip_each(raw)
    register_as_official(monkeypatch, "mnist", raw, [f"{n}.gz" for n in IDX])
    release = datasets.load("mnist", str(tmp_path)).release
    assert release == {"verdict": "official", "files": dict.fromkeys(IDX, "official"),
                       "matched": dict.fromkeys(IDX, "gzip")}  # fmt: skip
    assert releases.sentence("mnist", release) == (
        "Data: the official mnist release (every file's md5 as torchvision lists it)."
    )
    packed = raw / "train-labels-idx1-ubyte.gz"
    packed.write_bytes(gzip.compress(gzip.decompress(packed.read_bytes()), mtime=1))
    release = datasets.load("mnist", str(tmp_path)).release  # same content, other gzip bytes
    assert release["verdict"] == "official"
    assert release["matched"] == {**dict.fromkeys(IDX, "gzip"),
                                  "train-labels-idx1-ubyte": "content"}  # fmt: skip
    assert releases.sentence("mnist", release) == (
        "Data: the official mnist release (md5 as torchvision lists it; for "
        "train-labels-idx1-ubyte, that of the decompressed content)."
    )


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
