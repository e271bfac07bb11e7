"""The standard data set files, read as data: nothing in a file runs, and damage is one line.

MNIST / Fashion-MNIST idx files (plain or gzip), CIFAR-10's python batches (through an
unpickler that builds only what the official files hold) and CelebA's partition list. Each
reader checks the file against its format and raises ``UsageError``
"<dataset>: <file> in <folder> <what is wrong>; <fix>".
"""

import gzip
import io
import math
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .errors import UsageError

OFFICIAL_FIX = "restore the official file (or delete it and add --download when online)"
IDX_UNSIGNED_BYTE = 0x08  # the idx type code of uint8 data
CIFAR_ROW = 3 * 32 * 32
CELEBA_SPLITS = ("0", "1", "2")  # train, validation, test
CELEBA_IMAGES = "img_align_celeba"


def damaged(dataset: str, path: Path, why: str, fix: str = OFFICIAL_FIX) -> UsageError:
    """The ``UsageError`` '<dataset>: <file> in <folder> <why>; <fix>' for a bad data file."""
    return UsageError(f"{dataset}: {path.name} in {path.parent} {why}; {fix}")


def read_bytes(dataset: str, path: Path) -> bytes:
    """The file's bytes; an unreadable file is bad input."""
    try:
        return Path(path).read_bytes()
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise damaged(dataset, path, f"cannot be read ({why})") from None


def is_gzip(raw: bytes) -> bool:
    """Whether ``raw`` starts with the gzip magic bytes 1f 8b."""
    return raw[:2] == b"\x1f\x8b"


def gunzip(dataset: str, path: Path, raw: bytes) -> bytes:
    """``raw`` decompressed; a cut or damaged gzip stream is bad input."""
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise damaged(dataset, path, f"is not a readable gzip file ({err})") from None


def parse_idx(dataset: str, path: Path, content: bytes, item_shape: tuple[int, ...],
              noun: str) -> Tensor:  # fmt: skip
    """The uint8 tensor [n, *item_shape] of an idx file's (uncompressed) ``content`` of n
    ``noun`` (images, labels).

    idx: magic 0x0000 TT NN (TT = 0x08 for unsigned bytes, NN dimensions), NN big-endian
    uint32 sizes, then the data, prod(sizes) bytes, and nothing after it.
    """
    ndim = 1 + len(item_shape)
    header = 4 * (1 + ndim)
    if len(content) < header:
        raise damaged(dataset, path, f"is cut short ({len(content)} bytes, less than its header)")
    magic, *sizes = struct.unpack(f">{1 + ndim}I", content[:header])
    expected = IDX_UNSIGNED_BYTE << 8 | ndim
    if magic != expected:
        raise damaged(
            dataset,
            path,
            f"is not an idx file of {ndim}-dimensional unsigned bytes "
            f"(magic number {magic:#010x}, expected {expected:#010x})",
        )
    n, shape = sizes[0], tuple(sizes[1:])
    if shape != item_shape:
        raise damaged(dataset, path, f"holds {noun} of {_dims(shape)}, not {_dims(item_shape)}")
    if n == 0:
        raise damaged(dataset, path, f"holds no {noun} (its header says 0)")
    need, have = n * math.prod(item_shape), len(content) - header
    if have != need:
        what = "is cut short" if have < need else "is longer than its header says"
        raise damaged(dataset, path, f"{what} (the header says {n} {noun} of {_dims(item_shape)}, "
                                     f"{need} bytes; the file holds {have})")  # fmt: skip
    data = bytearray(memoryview(content)[header:])
    return torch.frombuffer(data, dtype=torch.uint8).view(n, *item_shape)


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) if shape else "one byte"


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """What ``_codecs.encode`` does in pickles of bytes (protocol < 3), for latin-1 alone."""
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r}, not latin1")
    return text.encode("latin1")


def _numpy_reconstructors() -> dict[tuple[str, str], object]:
    """The numpy functions array pickles name, under numpy 1's and numpy 2's module names."""
    try:
        from numpy._core import multiarray, numeric  # numpy >= 2
    except ImportError:
        from numpy.core import multiarray, numeric
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer  # protocol 5
    return allowed


class BatchUnpickler(pickle.Unpickler):
    """Builds dicts, lists, strings, bytes, numbers and numpy arrays, nothing else.

    A pickle calls a function only through ``find_class``; every name outside ``ALLOWED``
    (the array reconstruction and latin-1 bytes) is refused before anything is called.
    """

    ALLOWED = {**_numpy_reconstructors(), ("_codecs", "encode"): _latin1_bytes}

    def find_class(self, module: str, name: str):
        """The allowed function named ``module.name``; any other raises ``ForeignObject``."""
        if (module, name) not in self.ALLOWED:
            raise ForeignObject(f"{module}.{name}")
        return self.ALLOWED[(module, name)]


class ForeignObject(pickle.UnpicklingError):
    """A pickle names a function or class that a data file has no use for."""


def read_cifar_batch(dataset: str, path: Path, raw: bytes) -> np.ndarray:
    """The uint8 images [n, 3072] of a CIFAR-10 python batch (``raw``: the file's bytes).

    The batch is the dict {"data": uint8 array [n, 3072], "labels": n ints, ...}, its keys
    str (the official Python 2 pickles, read as latin-1) or bytes (a Python 3 re-pickle).
    """
    try:
        batch = BatchUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except ForeignObject as err:
        raise damaged(dataset, path, f"is not a CIFAR-10 batch: it names {err}, which the "
                                     "official files do not hold and loading could run, so it "
                                     "is not loaded") from None  # fmt: skip
    except Exception as err:  # anything a damaged pickle raises: only allowed code ran
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise damaged(dataset, path, f"cannot be unpickled ({why})") from None
    if not isinstance(batch, dict):
        raise damaged(dataset, path, f"holds a {type(batch).__name__}, not a CIFAR-10 batch dict")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    for key in ("data", "labels"):
        if key not in batch:
            keys = ", ".join(map(str, batch)) or "none"
            raise damaged(dataset, path, f"has no {key!r} entry (its keys: {keys})")
    data, labels = batch["data"], batch["labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        kind = data.dtype if isinstance(data, np.ndarray) else type(data).__name__
        raise damaged(dataset, path, f"has data of {kind}, not an array of uint8")
    if data.ndim != 2 or data.shape[1] != CIFAR_ROW or not len(data):
        raise damaged(dataset, path, f"has data of shape {data.shape}, not (images, {CIFAR_ROW}) "
                                     "(3x32x32 per row)")  # fmt: skip
    if not isinstance(labels, list) or len(labels) != len(data):
        count = len(labels) if isinstance(labels, list) else type(labels).__name__
        raise damaged(dataset, path, f"has {len(data)} images but labels {count}")
    return data


def read_partition(dataset: str, path: Path, raw: bytes) -> dict[str, list[str]]:
    """CelebA's list_eval_partition.txt (``raw``: its bytes): lines 'IMAGE SPLIT' ->
    {split: [image names]}."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise damaged(dataset, path, "is not text") from None
    splits: dict[str, list[str]] = {s: [] for s in CELEBA_SPLITS}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in splits:
            raise damaged(
                dataset,
                path,
                f"has a malformed line {number} ({line.strip()[:60]!r}; "
                "expected 'IMAGE SPLIT' with SPLIT 0, 1 or 2)",
            )
        name = fields[0]
        if name in (".", "..") or "/" in name or "\\" in name:
            raise damaged(dataset, path, f"names {name!r} on line {number}, not a file name")
        splits[fields[1]].append(name)
    for split, role in (("0", "training"), ("2", "test")):
        if not splits[split]:
            raise damaged(dataset, path, f"names no {role} images (split {split})")
    return splits
