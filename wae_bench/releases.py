"""Whether a data set's files are the official release: their md5 as torchvision lists them.

A result on modified data is labelled, not refused: config.json records a verdict
("official", "modified" or "unchecked") with each file's, and summary.md says it in one line.
The files are hashed once, from the bytes the reader has read anyway. MNIST and
Fashion-MNIST are published as .gz files: a plain file is official when it equals the
decompressed official .gz beside it (torchvision's download keeps both), else unchecked.
"""

import gzip
import hashlib
from pathlib import Path

OFFICIAL, MODIFIED, UNCHECKED = "official", "modified", "unchecked"

# torchvision 0.29: datasets.MNIST.resources, FashionMNIST.resources, CIFAR10.train_list and
# test_list, CelebA.file_list (tests/harness/test_releases.py compares them)
OFFICIAL_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "cifar10": {
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
    },
    "celeba": {"list_eval_partition.txt": "d32c9cbf5e040fd4025c592c306e6668"},
}
GZ_NOTE = "torchvision lists the md5 of the .gz files; keep them beside the files to check"
CELEBA_NOTE = "torchvision lists the md5 of img_align_celeba.zip, none of the images in it"


def md5(raw: bytes) -> str:
    """The hex md5 of ``raw`` (to identify a file, not for security)."""
    return hashlib.md5(raw, usedforsecurity=False).hexdigest()


def file_release(dataset: str, name: str, raw: bytes) -> str:
    """official or modified: ``raw`` (a whole file) against the official file ``name``."""
    return OFFICIAL if md5(raw) == OFFICIAL_MD5[dataset][name] else MODIFIED


def idx_release(dataset: str, plain: Path, raw: bytes, content: bytes, gzipped: bool) -> str:
    """The verdict on the idx file ``plain`` (its name in the release, less .gz), read as
    ``raw`` bytes (``gzipped`` or not) that hold ``content``."""
    known = OFFICIAL_MD5[dataset][f"{Path(plain).name}.gz"]
    if md5(raw) == known:
        return OFFICIAL
    if gzipped:  # a .gz that is not the official one
        return MODIFIED
    try:
        official = Path(f"{plain}.gz").read_bytes()
        if md5(official) != known:
            return UNCHECKED
        return OFFICIAL if gzip.decompress(official) == content else MODIFIED
    except OSError:  # no .gz beside it
        return UNCHECKED


def verdict(files: dict[str, str], note: str = "") -> dict:
    """config.json's record: modified if a file is, official if every file is, else unchecked."""
    states = set(files.values())
    overall = MODIFIED if MODIFIED in states else OFFICIAL if states == {OFFICIAL} else UNCHECKED
    return {"verdict": overall, "files": files, **({"note": note} if note else {})}


def sentence(name: str, release: dict | None) -> str:
    """summary.md's line on the data (empty for data sets without an official release)."""
    if not release:
        return ""
    files = release.get("files", {})
    overall = release.get("verdict")
    if overall == OFFICIAL:
        return f"Data: the official {name} release (every file's md5 as torchvision lists it)."
    if overall == MODIFIED:
        changed = [f for f, state in files.items() if state == MODIFIED]
        differ = "differs" if len(changed) == 1 else "differ"
        return (
            f"Data: MODIFIED {name}: {', '.join(changed)} {differ} from the official release "
            "(md5 as torchvision lists it); these results are not on the official data."
        )
    unchecked = ", ".join(f for f, state in files.items() if state != OFFICIAL)
    note = f" ({release['note']})" if release.get("note") else ""
    return f"Data: {name}, not checked against the official release: {unchecked}{note}."
