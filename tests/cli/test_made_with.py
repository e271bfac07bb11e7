"""Every "made with" command of README.md and docs/ makes the committed folder it names: the
command, exactly as written but into an empty folder, is run through the CLI up to where it
would train, and what it would measure (its settings, less how it runs: folder, device,
workers, verbosity) equals the committed folder's config.json; a tune's budget and final seeds
too. A setting the folder predates must be at its default."""

import json
import re
import shlex
from pathlib import Path

import pytest

from wae_bench import cli, command, tune

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MADE_WITH = re.compile(r"[Mm]ade with.{0,400}?```bash\n(.*?)```", re.S)  # the next block
TRAINING = ("latent", "image", "tune")


def made_with_commands() -> list[tuple[str, str]]:
    """(doc file, command line) of every training command in a "made with" code block."""
    found = []
    for doc in DOCS:
        for block in MADE_WITH.findall(doc.read_text()):
            for line in block.splitlines():
                words = shlex.split(line, comments=True)
                words = [w for w in words if not re.fullmatch(r"[A-Z_]+=\S*", w)]  # env vars
                if words[:1] == ["wae-bench"] and words[1] in TRAINING:
                    found.append((doc.name, line.strip()))
    return found


def out_of(words: list[str]) -> str:
    return words[words.index("--out") + 1]


def ran(monkeypatch, words: list[str], out: Path) -> dict:
    """{"task", "cfg", and a tune's "options"}: what ``words`` (``--out`` replaced by ``out``)
    hands to the training or tune function."""
    args = [out.as_posix() if i and words[i - 1] == "--out" else w for i, w in enumerate(words)]
    seen = {}

    def train(task, cfg, how):  # stands in for the training, with the summary the CLI prints
        seen.update(task=task, cfg=cfg)
        out.mkdir(parents=True)
        (out / "summary.md").write_text("not trained\n")
        return out

    def run_tune(task, cfg, how, **options):
        seen.update(task=task, cfg=cfg, options=options)
        out.mkdir(parents=True)
        (out / "tune.md").write_text("not tuned\n")
        return out

    monkeypatch.setattr(command, "execute", train)
    monkeypatch.setattr(tune, "run", run_tune)
    assert cli.main(args[1:]) == 0
    return seen


def measured(cfg_class, config: dict) -> dict:
    """The settings that change what a run measures (the fields of the task's config; an
    older config.json holds how it ran there too)."""
    fields = cfg_class().to_dict()
    return {k: v for k, v in config.items() if k in fields}


COMMANDS = made_with_commands()


def test_the_docs_have_made_with_commands_of_every_kind():
    kinds = {shlex.split(line)[2] if line.startswith("OMP") else shlex.split(line)[1]
             for _, line in COMMANDS}  # fmt: skip
    assert kinds == {"latent", "image", "tune"}, COMMANDS


@pytest.mark.parametrize(("doc", "line"), COMMANDS, ids=[f"{d}:{i}" for i, (d, _) in
                                                         enumerate(COMMANDS)])  # fmt: skip
def test_a_made_with_command_gives_its_committed_folder(doc, line, monkeypatch, tmp_path):
    words = [w for w in shlex.split(line) if not re.fullmatch(r"[A-Z_]+=\S*", w)]
    folder = ROOT / out_of(words)
    saved = json.loads((folder / "config.json").read_text())
    seen = ran(monkeypatch, words, tmp_path / "empty")
    cfg_class = seen["task"].config
    given = measured(cfg_class, seen["cfg"].to_dict())
    committed = measured(cfg_class, saved["config"])
    defaults = measured(cfg_class, cfg_class().to_dict())
    assert {k: given[k] for k in committed} == committed, f"{doc}: {line}"
    newer = {k: v for k, v in given.items() if k not in committed}
    assert newer == {k: defaults[k] for k in newer}, f"{doc}: settings {folder} predates"
    if "options" in seen:  # a tune: the budget and the final seeds
        options = seen["options"]
        assert saved["tune"]["trials"] == options["trials"]
        assert saved["tune"]["final_seeds"] == list(range(options["final_seeds"]))
