"""Whether a data set's files are the official release: their md5 as torchvision lists them,
or for MNIST and Fashion-MNIST that of their decompressed content.

A result on modified data is labelled, not refused: config.json records a verdict
("official", "modified" or "unchecked") with each file's, and summary.md says it in one line.
The files are hashed once, from the bytes the reader has read anyway.

MNIST and Fashion-MNIST are published as .gz files, and copies are often recompressed
(Debian's dataset-fashion-mnist) or kept decompressed, which changes the bytes but not the
data. An idx file is official when its bytes have the md5 of the official .gz ("gzip") or
when its decompressed content has the md5 of the official file's content ("content"; a plain
file is its own content); anything else is modified, down to one flipped bit. The record's
``matched`` map says which of the two each official idx file matched. CIFAR-10's batches and
CelebA's partition list are compared as they are published.
"""

import hashlib

OFFICIAL, MODIFIED, UNCHECKED = "official", "modified", "unchecked"
GZIP, CONTENT = "gzip", "content"  # what an official idx file matched: its .gz bytes or content

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
# The md5 of each official .gz's decompressed content. MNIST: as pralab/secml lists them
# (src/secml/data/loader/c_dataloader_mnist.py, "expected MD5 of the downloaded file (after
# unpacking)"), as do PyTorch-style fetch scripts that list them beside the .gz md5s above.
# Fashion-MNIST: as public loaders list them, and checked against the gunzipped files of
# Debian's dataset-fashion-mnist (tests/harness/test_system_datasets.py does when installed).
OFFICIAL_CONTENT_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
CELEBA_NOTE = "torchvision lists the md5 of img_align_celeba.zip, none of the images in it"


def md5(raw: bytes) -> str:
    """The hex md5 of ``raw`` (to identify a file, not for security)."""
    return hashlib.md5(raw, usedforsecurity=False).hexdigest()


def file_release(dataset: str, name: str, raw: bytes) -> str:
    """official or modified: ``raw`` (a whole file) against the official file ``name``."""
    return OFFICIAL if md5(raw) == OFFICIAL_MD5[dataset][name] else MODIFIED


def idx_release(dataset: str, name: str, raw: bytes, content: bytes) -> tuple[str, str]:
    """(verdict, what matched) for the idx file ``name`` (its name in the release, less .gz)
    read as ``raw`` bytes (gzip or plain) holding ``content``: (official, "gzip") when ``raw``
    is the official .gz, (official, "content") when ``content`` is the official content, else
    (modified, "")."""
    if md5(raw) == OFFICIAL_MD5[dataset][f"{name}.gz"]:
        return OFFICIAL, GZIP
    if md5(content) == OFFICIAL_CONTENT_MD5[dataset][name]:
        return OFFICIAL, CONTENT
    return MODIFIED, ""


def verdict(files: dict[str, str], note: str = "", matched: dict[str, str] | None = None) -> dict:
    """config.json's record: modified if a file is, official if every file is, else unchecked;
    with ``matched`` ({file: "gzip" or "content"}, official idx files only) when given."""
    states = set(files.values())
    overall = MODIFIED if MODIFIED in states else OFFICIAL if states == {OFFICIAL} else UNCHECKED
    return {"verdict": overall, "files": files, **({"matched": matched} if matched else {}),
            **({"note": note} if note else {})}  # fmt: skip


def sentence(name: str, release: dict | None) -> str:
    """summary.md's line on the data (empty for data sets without an official release)."""
    if not release:
        return ""
    files = release.get("files", {})
    overall = release.get("verdict")
    if overall == OFFICIAL:
        by_content = [f for f, how in release.get("matched", {}).items() if how == CONTENT]
        if not by_content:
            how = "every file's md5 as torchvision lists it"
        elif len(by_content) == len(files):
            how = "every file's decompressed content has the official md5"
        else:
            how = (f"md5 as torchvision lists it; for {', '.join(by_content)}, that of the "
                   "decompressed content")  # fmt: skip
        return f"Data: the official {name} release ({how})."
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
