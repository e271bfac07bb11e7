"""Damaged files: every read is either the right data or one-line UsageError, never a traceback.

Real files written by the code (result files, checkpoints) and files in the standard data set
formats (written by the tests) are cut at random offsets, overwritten with random bytes or
junk, emptied, given wrong headers or the wrong keys (seeded, so every run tries the same
damage).
"""

import gzip
import math
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from wae_bench import checkpoints, run_files
from wae_bench import data as datasets
from wae_bench.errors import UsageError

from tests.helpers.data import fake_cifar10, fake_mnist, write_images

RNG_SEED = 0
N_CUTS = 150
N_FLIPS = 200
STRUCTURAL = b',\n\r"\'{}[]:0123456789.-+eEnaN '


def curves_frame() -> pd.DataFrame:
    rng = np.random.default_rng(RNG_SEED)
    n = 24
    return pd.DataFrame({
        "method": ["mmd", "swd", "moca"] * (n // 3),
        "seed": np.arange(n) % 2,
        "epoch": np.arange(n),
        "swd": rng.exponential(size=n),
        "seconds": np.where(np.arange(n) == 5, math.nan, rng.uniform(0, 9, size=n)),
    })  # fmt: skip


CONFIG = {
    "task": "latent",
    "config": {"methods": ["mmd", "swd"], "lr": 0.001, "epochs": 3, "out": "runs/x"},
    "environment": {"python": "3.11", "packages": {"torch": "2.5"}, "gpu": None},
}


def read_or_refuse(read, path):
    """The reader's value, or None when it refused with a one-line message naming the file."""
    try:
        return read(path)
    except UsageError as err:
        message = str(err)
        assert "\n" not in message and path.name in message, message
        assert "restore the file" in message or "delete it to restart" in message, message
        return None


def damaged_versions(data: bytes, rng, n_cuts=N_CUTS, n_flips=N_FLIPS):
    """(kind, damaged bytes): cuts at many offsets, flipped bytes, junk, empty."""
    cuts = sorted(set(rng.integers(0, len(data), size=n_cuts).tolist()) | {0, 1, len(data) - 1})
    for k in cuts:
        yield "cut", data[:k]
    for n in range(n_flips):  # half any byte, half the bytes that shape a CSV or JSON file
        alphabet = range(256) if n % 2 else list(STRUCTURAL)
        flipped = bytearray(data)
        for i in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
            flipped[i] = int(rng.choice(alphabet))
        yield "flip", bytes(flipped)
    for n in (1, 7, 100, 5000):
        yield "junk", rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()
    yield "junk", b"\0" * 64
    yield "empty", b""
    yield "empty", b"\n\n  \n"


def test_damaged_csv_reads_as_a_prefix_of_whole_rows_or_is_refused(tmp_path):
    whole = tmp_path / "curves.csv"
    run_files.write_csv(whole, curves_frame())
    original = run_files.read_csv(whole)
    data = whole.read_bytes()
    path = tmp_path / "damaged" / "curves.csv"
    path.parent.mkdir()
    outcomes = {"read": 0, "refused": 0}
    for kind, damaged in damaged_versions(data, np.random.default_rng(RNG_SEED)):
        path.write_bytes(damaged)
        frame = read_or_refuse(lambda p: run_files.read_csv(p, columns=("method", "swd")), path)
        outcomes["read" if frame is not None else "refused"] += 1
        if frame is not None and kind == "cut":  # a cut is only readable at a line's end
            assert damaged.endswith(b"\n")
            rows = damaged.count(b"\n") - 1
            pd.testing.assert_frame_equal(frame, original.head(rows), check_dtype=False)
        elif frame is not None:  # a flip that changed a value or a name, not the table's shape
            assert frame.shape == original.shape, damaged
    assert outcomes["read"] > 0 and outcomes["refused"] > N_CUTS / 2  # both paths were taken


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("epoch,swd\n1,0.5\n", "no column method"),
        ("method,epoch\nmmd,1\n", "no column swd"),
        ("method,swd\nmmd,0.5\nswd\n", "row 3 has 1 fields, the header 2"),
        ("method,swd\nmmd,0.5,7\n", "row 2 has 3 fields, the header 2"),
        ("method,swd\nmmd,0.5", "the last line is cut off"),
        ("method,swd\n\xff\xfe,1\n", "not UTF-8 text"),
        ("", "empty"),
    ],
)
def test_csv_damage_is_named(tmp_path, text, why):
    path = tmp_path / "metrics.csv"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(UsageError) as err:
        run_files.read_csv(path, columns=("method", "swd"))
    assert str(err.value) == (
        f"metrics.csv in {tmp_path} is damaged ({why}); re-run the task or restore the file"
    )


def test_a_header_only_csv_and_blank_lines_read(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("method,swd\n")
    assert list(run_files.read_csv(path, columns=("swd",)).columns) == ["method", "swd"]
    path.write_text("method,swd\nmmd,0.5\n\n")
    assert run_files.read_csv(path)["swd"].tolist() == [0.5]


def test_damaged_json_reads_whole_or_is_refused(tmp_path):
    path = tmp_path / "config.json"
    run_files.write_json(path, CONFIG)
    data = path.read_bytes()
    for kind, damaged in damaged_versions(data, np.random.default_rng(RNG_SEED + 1)):
        path.write_bytes(damaged)
        got = read_or_refuse(run_files.read_json, path)
        if got is not None:
            assert kind == "flip" or damaged.strip() == data.strip(), (kind, damaged)
            assert isinstance(got, dict)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[1, 2]", "a JSON list, not an object"),
        ("3", "a JSON int, not an object"),
        ('"done"', "a JSON str, not an object"),
        ("null", "a JSON NoneType, not an object"),
        ('{"status": "done"', "not JSON: Expecting ',' delimiter at line 1"),
        ("", "empty"),
    ],
)
def test_json_that_is_not_an_object_is_named(tmp_path, text, why):
    path = tmp_path / "status.json"
    path.write_text(text)
    with pytest.raises(UsageError) as err:
        run_files.read_json(path)
    assert str(err.value) == (
        f"status.json in {tmp_path} is damaged ({why}); re-run the task or restore the file"
    )


def test_a_missing_json_is_empty_and_a_missing_csv_is_not_found(tmp_path):
    assert run_files.read_json(tmp_path / "sweep.json") == {}
    with pytest.raises(UsageError, match="curves.csv not found"):
        run_files.read_csv(tmp_path / "curves.csv")


def test_damaged_checkpoint_loads_whole_or_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    state = {"epoch": 3, "model": {"w": torch.arange(64.0)}, "rng": torch.get_rng_state()}
    checkpoints.save_checkpoint(path, state)
    data = path.read_bytes()
    loaded = 0
    for kind, damaged in damaged_versions(data, np.random.default_rng(RNG_SEED + 2)):
        if kind == "flip" and loaded > 20:
            continue  # flips mostly hit tensor bytes and load; a few suffice
        path.write_bytes(damaged)
        got = read_or_refuse(lambda p: checkpoints.load_checkpoint(p), path)
        assert got is None or kind == "flip", kind  # a cut zip has no central directory
        loaded += got is not None
        assert got is None or isinstance(got, dict)


def test_a_checkpoint_that_is_not_a_dict_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    torch.save([1, 2], path)
    with pytest.raises(UsageError) as err:
        checkpoints.load_checkpoint(path)
    assert str(err.value) == (
        f"checkpoint {path} cannot be read (holds a list, not a dict); "
        "delete it to restart that run"
    )


def load_or_refuse(name, root, damaged):
    """``datasets.load``'s data, or None when it refused in one line naming the damaged file
    and the fix."""
    try:
        return datasets.load(name, str(root), size=8)
    except UsageError as err:
        message = str(err)
        assert "\n" not in message and message.startswith(f"{name}: "), message
        assert f" {damaged.name} in {damaged.parent} " in message, message
        assert "restore the official file" in message or "zip again" in message, message
        return None


def header_versions(data: bytes, header: int, rng):
    """('header', bytes): each of the first ``header`` bytes set to three other values."""
    for i in range(header):
        for value in rng.choice([v for v in range(256) if v != data[i]], size=3, replace=False):
            yield "header", data[:i] + bytes([value]) + data[i + 1 :]


@pytest.mark.parametrize("packing", ["plain", "gzip"])
def test_damaged_idx_files_load_whole_or_are_refused(tmp_path, packing):
    fake_mnist(tmp_path, n_train=3, n_test=2)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    if packing == "gzip":
        packed = path.with_name(path.name + ".gz")
        packed.write_bytes(gzip.compress(path.read_bytes(), mtime=0))
        path.unlink()
        path = packed
    data = path.read_bytes()
    rng = np.random.default_rng(RNG_SEED + 3)
    header = 16 if packing == "plain" else 0  # a gzip header's bytes are checked by gzip
    versions = [*damaged_versions(data, rng), *header_versions(data, header, rng)]
    loaded = 0
    for kind, damaged in versions:
        path.write_bytes(damaged)
        got = load_or_refuse("mnist", tmp_path, path)
        assert got is None or kind == "flip", kind  # a cut or any other header is refused
        if got is not None:
            loaded += 1
            assert got.train.shape == (3, 1, 32, 32) and got.test.shape == (2, 1, 32, 32)
    if packing == "plain":  # (gzip's CRC refuses nearly every flip)
        assert loaded > 0  # flips of pixel bytes load


def cifar_batches():
    """(batch, whether it is a CIFAR-10 batch): the right one, then wrong keys and values."""
    x = np.random.default_rng(0).integers(0, 256, (2, 3072), dtype=np.uint8)
    labels = [3, 7]
    return [
        ({"data": x, "labels": labels}, True),
        ({b"data": x, b"labels": labels, b"filenames": [b"a.png", b"b.png"]}, True),
        ({}, False), ({"data": x}, False), ({"labels": labels}, False),
        ({"Data": x, "labels": labels}, False), ({1: x, 2: labels}, False),
        ({"data": x.astype(np.float32), "labels": labels}, False),
        ({"data": x.astype(object), "labels": labels}, False),
        ({"data": x.reshape(-1), "labels": labels}, False),
        ({"data": x[:, :3000], "labels": labels}, False),
        ({"data": x.reshape(2, 3, 32, 32), "labels": labels}, False),
        ({"data": x[:0], "labels": []}, False),
        ({"data": x.tolist(), "labels": labels}, False),
        ({"data": None, "labels": labels}, False), ({"data": "x", "labels": labels}, False),
        ({"data": x, "labels": "ab"}, False), ({"data": x, "labels": None}, False),
        ({"data": x, "labels": [1]}, False),
        ([x, labels], False), ("data", False), (42, False), (None, False), (x, False),
    ]  # fmt: skip


def test_damaged_cifar10_batches_load_whole_or_are_refused(tmp_path):
    fake_cifar10(tmp_path, per_batch=2, n_test=2)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    rng = np.random.default_rng(RNG_SEED + 4)
    loaded = 0
    for kind, damaged in damaged_versions(path.read_bytes(), rng):
        path.write_bytes(damaged)
        got = load_or_refuse("cifar10", tmp_path, path)
        assert got is None or kind == "flip", kind  # a cut pickle has no STOP
        loaded += got is not None
        assert got is None or got.train.shape == (10, 3, 32, 32)
    assert loaded > 0  # flips of pixel bytes load
    for protocol in (2, 4, 5):
        for batch, is_batch in cifar_batches():
            path.write_bytes(pickle.dumps(batch, protocol=protocol))
            got = load_or_refuse("cifar10", tmp_path, path)
            assert (got is not None) == is_batch, (protocol, batch)


def test_damaged_celeba_partitions_load_a_subset_or_are_refused(tmp_path):
    folder = tmp_path / "celeba"
    names = [f"{i:06d}.jpg" for i in range(1, 5)]
    write_images([folder / "img_align_celeba" / n for n in names], size=(12, 10))
    path = folder / "list_eval_partition.txt"
    path.write_text("".join(f"{n} {s}\n" for n, s in zip(names, "0120", strict=True)))
    rng = np.random.default_rng(RNG_SEED + 5)
    loaded = 0
    for _, damaged in damaged_versions(path.read_bytes(), rng, n_cuts=60, n_flips=100):
        path.write_bytes(damaged)
        got = load_or_refuse("celeba", tmp_path, path)
        if got is not None:
            loaded += 1
            used = {p.name for p in got.train.paths + got.test.paths}
            assert used <= set(names) and len(got.train) and len(got.test)
    assert loaded > 0


def test_damaged_images_in_a_folder_are_skipped_or_load(tmp_path):
    write_images([tmp_path / f"{i}.png" for i in range(2)], size=(12, 10))
    write_images([tmp_path / "2.jpg"], size=(12, 10))
    path = tmp_path / "2.jpg"
    rng = np.random.default_rng(RNG_SEED + 6)
    for _, damaged in damaged_versions(path.read_bytes(), rng, n_cuts=30, n_flips=60):
        path.write_bytes(damaged)
        got = datasets.load("folder", str(tmp_path), size=8)  # 2 good images: never refused
        for split in (got.train, got.test):
            assert datasets.take(split, 3).shape == (len(split), 3, 8, 8)
