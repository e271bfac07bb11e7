"""Damaged standard data sets (MNIST idx, CIFAR-10 batches, CelebA): one line naming the file,
what is wrong and the fix, exit status 2, before anything is written; nothing in a file runs."""

import gzip
import os
import pickle
import struct
from collections import Counter

import pytest

from wae_bench.cli import main

from tests.helpers.data import fake_cifar10, fake_mnist, write_images

OFFICIAL_FIX = "restore the official file (or delete it and add --download when online)"
CELEBA_FIX = ("extract img_align_celeba.zip again (or delete img_align_celeba/ and add --download "
              "when online)")
TINY_IMAGE = ["image", "--epochs", "1", "--seeds", "1", "--lambdas", "1", "--methods", "mmd",
              "--latent-dim", "8", "--eval-samples", "2", "--quiet"]  # fmt: skip


def mnist_file(root, name):
    return root / "MNIST" / "raw" / name


def edit(path, change):
    path.write_bytes(change(path.read_bytes()))


def mnist_case(change, name="train-images-idx3-ubyte"):
    def make(root):
        fake_mnist(root)
        change(mnist_file(root, name))
        return mnist_file(root, name).parent

    return make


def idx_images(n, rows, cols):
    return struct.pack(">IIII", 2051, n, rows, cols) + bytes(n * rows * cols)


def gzipped_and_cut(path):
    path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes())[:-20])
    path.unlink()


def cifar_case(change, name="data_batch_2"):
    def make(root):
        fake_cifar10(root)
        path = root / "cifar-10-batches-py" / name
        batch = pickle.loads(path.read_bytes())
        changed = change(batch)
        path.write_bytes(changed if isinstance(changed, bytes) else pickle.dumps(changed))
        return path.parent

    return make


def celeba_case(lines, images=("000001.jpg", "000002.jpg", "000003.jpg")):
    def make(root):
        folder = root / "celeba"
        write_images([folder / "img_align_celeba" / n for n in images], size=(20, 24))
        (folder / "list_eval_partition.txt").write_text("".join(f"{line}\n" for line in lines))
        return folder

    return make


def undecodable_image(root):
    folder = celeba_case(["000001.jpg 0", "000002.jpg 2", "000003.jpg 0"])(root)
    edit(folder / "img_align_celeba" / "000002.jpg", lambda b: b[: len(b) // 2])
    return folder


def binary_partition(root):
    folder = celeba_case(["000001.jpg 0", "000002.jpg 2"])(root)
    (folder / "list_eval_partition.txt").write_bytes(b"000001.jpg 0\n\xff\xfe 2\n")
    return folder


# (dataset, make(root) -> the damaged file's folder, the file, what is wrong, fix)
CASES = {
    "mnist cut short": ("mnist", mnist_case(lambda p: edit(p, lambda b: b[:1016])),
                        "train-images-idx3-ubyte", "is cut short (the header says 12 images of "
                        "28x28, 9408 bytes; the file holds 1000)", OFFICIAL_FIX),
    "mnist too long": ("mnist", mnist_case(lambda p: edit(p, lambda b: b + b"\0\0")),
                       "train-images-idx3-ubyte", "is longer than its header says (the header "
                       "says 12 images of 28x28, 9408 bytes; the file holds 9410)", OFFICIAL_FIX),
    "mnist header only": ("mnist", mnist_case(lambda p: edit(p, lambda b: b[:10])),
                          "train-images-idx3-ubyte", "is cut short (10 bytes, less than its "
                          "header)", OFFICIAL_FIX),
    "mnist labels as images": ("mnist", mnist_case(
        lambda p: p.write_bytes(mnist_file(p.parents[2], "train-labels-idx1-ubyte").read_bytes())),
        "train-images-idx3-ubyte", "is not an idx file of 3-dimensional unsigned bytes (magic "
        "number 0x00000801, expected 0x00000803)", OFFICIAL_FIX),
    "mnist 32px images": ("mnist", mnist_case(lambda p: p.write_bytes(idx_images(12, 32, 32))),
                          "train-images-idx3-ubyte", "holds images of 32x32, not 28x28",
                          OFFICIAL_FIX),
    "mnist no images": ("mnist", mnist_case(lambda p: p.write_bytes(idx_images(0, 28, 28))),
                        "train-images-idx3-ubyte", "holds no images (its header says 0)",
                        OFFICIAL_FIX),
    "mnist labels count": ("mnist", mnist_case(
        lambda p: p.write_bytes(struct.pack(">II", 2049, 3) + bytes(3)),
        "t10k-labels-idx1-ubyte"), "t10k-labels-idx1-ubyte", "holds 3 labels for 5 images",
        OFFICIAL_FIX),
    "mnist cut gzip": ("mnist", mnist_case(gzipped_and_cut), "train-images-idx3-ubyte.gz",
                       "is not a readable gzip file (Compressed file ended before the "
                       "end-of-stream marker was reached)", OFFICIAL_FIX),
    "cifar truncated": ("cifar10", cifar_case(lambda b: pickle.dumps(b)[:-100]), "data_batch_2",
                        "cannot be unpickled (pickle data was truncated)", OFFICIAL_FIX),
    "cifar row length": ("cifar10", cifar_case(lambda b: {**b, "data": b["data"][:, :1250]}),
                         "data_batch_2", "has data of shape (4, 1250), not (images, 3072) "
                         "(3x32x32 per row)", OFFICIAL_FIX),
    "cifar float data": ("cifar10", cifar_case(lambda b: {**b, "data": b["data"] / 255.0}),
                         "data_batch_2", "has data of float64, not an array of uint8",
                         OFFICIAL_FIX),
    "cifar data as a list": ("cifar10", cifar_case(lambda b: {**b, "data": [1, 2]}),
                             "data_batch_2", "has data of list, not an array of uint8",
                             OFFICIAL_FIX),
    "cifar no labels": ("cifar10", cifar_case(lambda b: {"data": b["data"]}), "data_batch_2",
                        "has no 'labels' entry (its keys: data)", OFFICIAL_FIX),
    "cifar labels short": ("cifar10", cifar_case(lambda b: {**b, "labels": [0]}),
                           "data_batch_2", "has 4 images but labels 1", OFFICIAL_FIX),
    "cifar a list": ("cifar10", cifar_case(lambda b: [b["data"]]), "data_batch_2",
                     "holds a list, not a CIFAR-10 batch dict", OFFICIAL_FIX),
    "cifar a counter": ("cifar10", cifar_case(lambda b: {**b, "x": Counter("ab")}, "test_batch"),
                        "test_batch", "is not a CIFAR-10 batch: it names collections.Counter, "
                        "which the official files do not hold and loading could run, so it is "
                        "not loaded", OFFICIAL_FIX),
    "celeba malformed line": ("celeba", celeba_case(["000001.jpg 0", "000002.jpg", "000003.jpg 2"]),
                              "list_eval_partition.txt", "has a malformed line 2 ('000002.jpg'; "
                              "expected 'IMAGE SPLIT' with SPLIT 0, 1 or 2)", OFFICIAL_FIX),
    "celeba three fields": ("celeba", celeba_case(["000001.jpg 0 x", "000002.jpg 2"]),
                            "list_eval_partition.txt", "has a malformed line 1 ('000001.jpg 0 x'; "
                            "expected 'IMAGE SPLIT' with SPLIT 0, 1 or 2)", OFFICIAL_FIX),
    "celeba split 7": ("celeba", celeba_case(["000001.jpg 0", "000002.jpg 7"]),
                       "list_eval_partition.txt", "has a malformed line 2 ('000002.jpg 7'; "
                       "expected 'IMAGE SPLIT' with SPLIT 0, 1 or 2)", OFFICIAL_FIX),
    "celeba a path": ("celeba", celeba_case(["000001.jpg 0", "../000002.jpg 2"]),
                      "list_eval_partition.txt", "names '../000002.jpg' on line 2, not a file "
                      "name", OFFICIAL_FIX),
    "celeba no test images": ("celeba", celeba_case(["000001.jpg 0", "000002.jpg 1"]),
                              "list_eval_partition.txt", "names no test images (split 2)",
                              OFFICIAL_FIX),
    "celeba missing images": ("celeba", celeba_case(
        ["000001.jpg 0", "000009.jpg 2", "000003.jpg 0", "000008.jpg 0"]),
        "list_eval_partition.txt", "names images that are not there (000008.jpg, 000009.jpg, "
        "in {folder}/img_align_celeba)", CELEBA_FIX),
    "celeba undecodable image": ("celeba", undecodable_image, "list_eval_partition.txt",
                                 "names images that do not decode (000002.jpg, in "
                                 "{folder}/img_align_celeba)", CELEBA_FIX),
    "celeba binary partition": ("celeba", binary_partition, "list_eval_partition.txt",
                                "is not text", OFFICIAL_FIX),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_damaged_data_is_one_line_and_nothing_is_written(tmp_path, capsys, case):
    dataset, make, name, why, fix = CASES[case]
    folder = make(tmp_path / "data")
    out = tmp_path / "run"
    assert main([*TINY_IMAGE, "--dataset", dataset, "--data-root", str(tmp_path / "data"),
                 "--out", str(out)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    why = why.format(folder=folder)
    assert err == f"wae-bench: error: {dataset}: {name} in {folder} {why}; {fix}\n"
    assert not out.exists()


def test_a_cifar10_pickle_that_would_run_code_is_refused_and_never_runs(tmp_path, capsys):
    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    folder = cifar_case(lambda b: pickle.dumps({**b, "note": Payload()}))(tmp_path / "data")
    args = [*TINY_IMAGE, "--dataset", "cifar10", "--data-root", str(tmp_path / "data")]
    assert main([*args, "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == (
        f"wae-bench: error: cifar10: data_batch_2 in {folder} is not a CIFAR-10 batch: it names "
        f"{os.system.__module__}.system, which the official files do not hold and loading could "
        f"run, so it is not loaded; {OFFICIAL_FIX}\n"
    )
    assert not marker.exists() and not (tmp_path / "run").exists()
    pickle.loads((folder / "data_batch_2").read_bytes())  # the control: an ordinary unpickler
    assert marker.exists()  # runs it


def test_a_mnist_file_is_named_when_it_cannot_be_read(tmp_path, capsys):
    fake_mnist(tmp_path)
    path = mnist_file(tmp_path, "t10k-images-idx3-ubyte")
    path.unlink()
    path.mkdir()  # a folder where the file should be: reading it fails on every system
    assert main([*TINY_IMAGE, "--dataset", "mnist", "--data-root", str(tmp_path),
                 "--out", str(tmp_path / "run")]) == 2  # fmt: skip
    assert capsys.readouterr().err == (
        f"wae-bench: error: mnist: t10k-images-idx3-ubyte in {path.parent} cannot be read "
        f"(Is a directory); {OFFICIAL_FIX}\n"
    )
