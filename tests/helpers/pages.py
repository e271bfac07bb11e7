"""The result folders the page tests open: tiny runs of every kind made with the real CLI, a
copy of one whose names are markup, and the pages `wae-bench view` writes over them."""

import json
import shutil
from pathlib import Path

import pandas as pd

from wae_bench.cli import main

from tests.helpers.runs import IMAGE_TINY, TINY_SWEEP, run_cli, tune_cli

SCRIPT_TAG = "<script>alert(1)</script>"
ATTRIBUTE = '" onload="alert(1)'
FOLDER_NAME = "<img src=x onerror=alert(1)>"  # a folder name cannot hold "/"
FOLDERS = ["latent", "image", "study", "sweep", "tune", FOLDER_NAME]


def hostile_copy(run: Path, target: Path) -> None:
    """A copy of a latent run whose method names, a setting and its verdicts are markup."""
    shutil.copytree(run, target, ignore=shutil.ignore_patterns("checkpoints", "index.html"))
    names = {"moca": SCRIPT_TAG, "mmd": ATTRIBUTE}
    curves = pd.read_csv(target / "curves.csv")
    curves["method"] = curves["method"].map(names)
    curves.to_csv(target / "curves.csv", index=False)
    record = json.loads((target / "config.json").read_text())
    record["config"]["methods"] = list(names.values())
    record["hparams"] = {names[m]: {**h, "note": SCRIPT_TAG} for m, h in record["hparams"].items()}
    (target / "config.json").write_text(json.dumps(record))
    summary = (target / "summary.md").read_text()
    (target / "summary.md").write_text(summary.replace("moca", SCRIPT_TAG)
                                       .replace("mmd", ATTRIBUTE))  # fmt: skip


def build_site(root: Path) -> Path:
    """A latent run, an image run, a dimension study, a sweep, a tune and a hostile copy of
    the latent run in ``root``, and the pages `wae-bench view` writes over them."""
    assert run_cli("--methods", "moca,mmd", "--seeds", "2", "--out", root / "latent") == 0
    assert main([*IMAGE_TINY, "--out", str(root / "image")]) == 0
    assert run_cli("--methods", "moca,mmd", "--seeds", "2", "--latent-dims", "4,8",
                   "--out", root / "study") == 0  # fmt: skip
    spec = root / "tiny.toml"
    spec.write_text(TINY_SWEEP)
    assert main(["sweep", str(spec), "--jobs", "1", "--quiet", "--out", str(root / "sweep")]) == 0
    assert tune_cli(root / "tune", methods="swd,mmd", trials=3, final_seeds=2) == 0
    hostile_copy(root / "latent", root / FOLDER_NAME)
    assert main(["view", str(root)]) == 0
    return root
