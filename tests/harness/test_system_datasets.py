"""Where MNIST and Fashion-MNIST are found without flags: torchvision's tree under --data-root,
the data root itself as a flat folder, then an operating-system package's folder (Debian's
dataset-fashion-mnist); the first folder holding all four files is read, alone. The packaged
files are recompressed: they are the official data by content, and one flipped bit is not."""

import gzip
from pathlib import Path

import pytest
import torch

from wae_bench import data as datasets
from wae_bench import releases
from wae_bench.cli import main
from wae_bench.errors import UsageError

from tests.helpers.data import fake_mnist, write_mnist_files

IDX = datasets.IDX_FILES
PACKAGED = Path("/usr/share/datasets/fashion-mnist")
needs_package = pytest.mark.skipif(
    not all((PACKAGED / f"{name}.gz").is_file() for name in IDX),
    reason=f"Debian's dataset-fashion-mnist is not installed ({PACKAGED} lacks the files)",
)
TINY_IMAGE = ["image", "--epochs", "1", "--seeds", "1", "--lambdas", "1", "--methods", "mmd",
              "--latent-dim", "8", "--eval-samples", "2", "--quiet"]  # fmt: skip


@pytest.fixture
def system(tmp_path, monkeypatch):
    """A stand-in for the package's folder (not created): fashion-mnist's system copy."""
    folder = tmp_path / "usr-share-datasets-fashion-mnist"
    monkeypatch.setitem(datasets.SYSTEM_PACKAGES, "fashion-mnist",
                        ("dataset-fashion-mnist", folder))  # fmt: skip
    return folder


def gzip_each(folder):
    """Every idx file of ``folder`` as NAME.gz only, as the package installs them."""
    for name in IDX:
        (folder / f"{name}.gz").write_bytes(gzip.compress((folder / name).read_bytes(), mtime=0))
        (folder / name).unlink()


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gz"])
def test_a_flat_data_root_is_read_like_the_torchvision_tree(tmp_path, packed):
    fake_mnist(tmp_path / "tree")
    train = write_mnist_files(tmp_path / "flat")
    if packed:
        gzip_each(tmp_path / "flat")
    tree, flat = (datasets.load("mnist", str(tmp_path / n)) for n in ("tree", "flat"))
    assert torch.equal(tree.train, flat.train) and torch.equal(tree.test, flat.test)
    assert torch.equal(flat.train[:, 0, 2:30, 2:30], torch.tensor(train, dtype=torch.uint8) / 255.0)
    assert flat.folder == str(tmp_path / "flat")
    assert tree.folder == str(tmp_path / "tree" / "MNIST" / "raw")


def test_the_system_folder_is_read_when_the_data_root_holds_nothing(tmp_path, system):
    write_mnist_files(system, n_train=7)
    gzip_each(system)
    loaded = datasets.load("fashion-mnist", str(tmp_path / "empty"))
    assert loaded.train.shape == (7, 1, 32, 32) and loaded.folder == str(system)


def test_the_first_folder_holding_all_four_files_wins(tmp_path, system):
    root = tmp_path / "data"
    fake_mnist(root, "FashionMNIST", n_train=12)
    write_mnist_files(root, n_train=9)
    write_mnist_files(system, n_train=7)
    order = [(root / "FashionMNIST" / "raw", 12), (root, 9), (system, 7)]
    for folder, n_train in order:
        loaded = datasets.load("fashion-mnist", str(root))
        assert (loaded.folder, len(loaded.train)) == (str(folder), n_train)
        for name in IDX:  # the next folder in line is read once this one is gone
            (folder / name).unlink()


def test_a_folder_holding_some_of_the_files_is_passed_over_not_mixed(tmp_path, system, capsys):
    root = tmp_path / "data"
    fake_mnist(root, "FashionMNIST", n_train=12, n_test=5)
    (root / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    write_mnist_files(system, n_train=7, n_test=3)
    loaded = datasets.load("fashion-mnist", str(root))
    assert (len(loaded.train), len(loaded.test), loaded.folder) == (7, 3, str(system))
    assert capsys.readouterr().err == (
        f"wae-bench: warning: fashion-mnist: passing over {root}/FashionMNIST/raw (missing "
        f"t10k-labels-idx1-ubyte); reading all four files from {system}\n"
    )


def test_missing_fashion_mnist_names_every_folder_tried_and_the_package(tmp_path, system):
    root = tmp_path / "data"
    fake_mnist(root, "FashionMNIST")
    for name in IDX[1:]:
        (root / "FashionMNIST" / "raw" / name).unlink()
    (root / "t10k-labels-idx1-ubyte").write_bytes(b"")  # the missing file, but in another folder
    with pytest.raises(UsageError) as err:
        datasets.load("fashion-mnist", str(root))
    assert str(err.value) == (
        f"fashion-mnist: expected {', '.join(IDX)} (each may be NAME.gz) together in one folder; "
        f"tried {root}/FashionMNIST/raw (missing train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        f"t10k-labels-idx1-ubyte), {root} (missing train-images-idx3-ubyte, "
        f"train-labels-idx1-ubyte, t10k-images-idx3-ubyte), {system} (no such folder); pass "
        "--data-root DIR holding FashionMNIST/raw/ or the four files, install them with apt-get "
        "install dataset-fashion-mnist, or add --download when online"
    )


def test_missing_mnist_names_its_two_folders_and_no_package(tmp_path):
    assert "mnist" not in datasets.SYSTEM_PACKAGES  # no distribution packages MNIST
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    with pytest.raises(UsageError) as err:
        datasets.load("mnist", str(tmp_path))
    assert str(err.value) == (
        f"mnist: expected {', '.join(IDX)} (each may be NAME.gz) together in one folder; tried "
        f"{tmp_path}/MNIST/raw (none of them), {tmp_path} (none of them); pass --data-root DIR "
        "holding MNIST/raw/ or the four files, or add --download when online"
    )


def test_a_data_root_that_is_the_system_folder_is_tried_once(system):
    with pytest.raises(UsageError) as err:
        datasets.load("fashion-mnist", str(system))
    assert str(err.value).count(f"{system} (no such folder)") == 1
    assert f"{system}/FashionMNIST/raw (no such folder)" in str(err.value)


def test_missing_data_fails_the_command_in_one_line(tmp_path, system, capsys):
    out = tmp_path / "run"
    assert main([*TINY_IMAGE, "--dataset", "fashion-mnist", "--data-root", str(tmp_path / "none"),
                 "--out", str(out)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.startswith("wae-bench: error: fashion-mnist: expected train-images-idx3-ubyte")
    assert err.count("\n") == 1 and "apt-get install dataset-fashion-mnist" in err
    assert f"{system} (no such folder)" in err and not out.exists()


def test_download_fills_the_torchvision_tree_which_is_read(tmp_path, system, monkeypatch):
    import torchvision

    write_mnist_files(system, n_train=7)
    calls = []

    class Download:  # torchvision.datasets.FashionMNIST(root, train, download) offline
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            tree = Path(root) / "FashionMNIST" / "raw"
            if not tree.exists():
                write_mnist_files(tree, n_train=11)
                gzip_each(tree)

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", Download)
    loaded = datasets.load("fashion-mnist", str(tmp_path / "data"), download=True)
    assert calls == [(str(tmp_path / "data"), True, True), (str(tmp_path / "data"), False, True)]
    assert (len(loaded.train), loaded.folder) == (11, str(tmp_path / "data/FashionMNIST/raw"))


@needs_package
def test_the_packaged_files_are_recompressed_official_content():
    for name in IDX:
        packed = (PACKAGED / f"{name}.gz").read_bytes()
        assert releases.md5(packed) != releases.OFFICIAL_MD5["fashion-mnist"][f"{name}.gz"]
        content = gzip.decompress(packed)
        assert releases.md5(content) == releases.OFFICIAL_CONTENT_MD5["fashion-mnist"][name]
        assert releases.idx_release("fashion-mnist", name, packed, content) == (
            "official", "content")  # fmt: skip


@needs_package
def test_the_packaged_copy_is_found_without_flags_and_reported_official(tmp_path):
    loaded = datasets.load("fashion-mnist", str(tmp_path / "no-data-here"))
    assert loaded.folder == str(PACKAGED)
    assert loaded.train.shape == (60000, 1, 32, 32) and loaded.test.shape == (10000, 1, 32, 32)
    assert loaded.release == {"verdict": "official", "files": dict.fromkeys(IDX, "official"),
                              "matched": dict.fromkeys(IDX, "content")}  # fmt: skip
    assert releases.sentence("fashion-mnist", loaded.release) == (
        "Data: the official fashion-mnist release (every file's decompressed content has the "
        "official md5)."
    )


def flipped(content: bytes) -> bytes:
    """``content`` with one bit of its last byte (a pixel or a label) flipped."""
    return content[:-1] + bytes([content[-1] ^ 1])


@needs_package
@pytest.mark.parametrize("name", ["t10k-labels-idx1-ubyte", "t10k-images-idx3-ubyte"])
def test_one_flipped_bit_in_a_packaged_file_is_modified_gzipped_or_plain(name):
    content = flipped(gzip.decompress((PACKAGED / f"{name}.gz").read_bytes()))
    for raw in (gzip.compress(content, compresslevel=1, mtime=0), content):
        assert releases.idx_release("fashion-mnist", name, raw, content) == ("modified", "")


@needs_package
def test_a_copy_of_the_package_with_one_flipped_label_is_reported_modified(tmp_path):
    copy = tmp_path / "data"
    copy.mkdir()
    for name in IDX[:3]:
        (copy / f"{name}.gz").symlink_to(PACKAGED / f"{name}.gz")
    labels = gzip.decompress((PACKAGED / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (copy / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(flipped(labels)))
    loaded = datasets.load("fashion-mnist", str(copy))
    assert loaded.folder == str(copy)
    assert loaded.release["verdict"] == "modified"
    assert loaded.release["files"] == {**dict.fromkeys(IDX, "official"),
                                       "t10k-labels-idx1-ubyte": "modified"}  # fmt: skip
    assert releases.sentence("fashion-mnist", loaded.release) == (
        "Data: MODIFIED fashion-mnist: t10k-labels-idx1-ubyte differs from the official release "
        "(md5 as torchvision lists it); these results are not on the official data."
    )
