"""Every bad input ends with one line naming the problem and the fix, exit status 2, no
traceback, and the files already in the output folder untouched."""

from pathlib import Path

import pytest
import torch

from wae_bench.cli import main

LATENT = ["latent", "--epochs", "1", "--points", "64", "--batch-size", "16", "--quiet"]
IMAGE = ["image", "--epochs", "1", "--seeds", "1", "--lambdas", "1", "--quiet"]
SENTINEL = "method,seed,epoch,swd\nmoca,0,0,0.5\n"


def write(tmp, name, text):
    path = tmp / name
    path.write_text(text)
    return str(path)


def finished_image_run(tmp):
    """A finished tiny image run in tmp/run (for checkpoint cases)."""
    assert main([*IMAGE, "--methods", "mmd", "--eval-samples", "32", "--latent-dim", "8",
                 "--out", str(tmp / "run")]) == 0  # fmt: skip
    return tmp / "run"


def corrupt_checkpoint(tmp):
    run = finished_image_run(tmp)
    (run / "checkpoints" / "mmd_lam1_seed0.pt").write_bytes(b"\x00garbage")
    return [*IMAGE, "--methods", "mmd", "--eval-samples", "32", "--latent-dim", "8", "--resume"]


def foreign_checkpoint(tmp):
    """A readable checkpoint that belongs to another run."""
    path = finished_image_run(tmp) / "checkpoints" / "mmd_lam1_seed0.pt"
    state = torch.load(path, weights_only=True)
    torch.save({**state, "run": "moca_lam1_seed3"}, path)
    return [*IMAGE, "--methods", "mmd", "--eval-samples", "32", "--latent-dim", "8", "--resume"]


def mismatched_resume(tmp):
    finished_image_run(tmp)
    return [*IMAGE, "--methods", "mmd", "--eval-samples", "16", "--latent-dim", "8", "--resume"]


def damaged_run(tmp):
    """A run folder whose curves.csv was cut short mid-line."""
    run = tmp / "damaged"
    assert main([*LATENT, "--methods", "mmd", "--out", str(run)]) == 0
    text = (run / "curves.csv").read_text()
    (run / "curves.csv").write_text(text[: len(text) // 2])
    return ["report", str(run)]


CASES = [
    # latent task flags
    ("unknown method", lambda t: [*LATENT, "--methods", "moca,vae"], "unknown method 'vae'"),
    (
        "tau zero",
        lambda t: [*LATENT, "--set", "moca.tau=0"],
        "moca.tau must be a finite number > 0",
    ),
    ("tau negative", lambda t: [*LATENT, "--set", "moca.tau=-1"], "moca.tau must be"),
    ("tau nan", lambda t: [*LATENT, "--set", "moca.tau=nan"], "NaN is not a valid setting"),
    ("tau text", lambda t: [*LATENT, "--set", "moca.tau=cold"], "got 'cold'"),
    ("m one", lambda t: [*LATENT, "--set", "moca.m=1.0"], "moca.m must be a number in [0, 1)"),
    (
        "m negative",
        lambda t: [*LATENT, "--set", "moca.m=-0.1"],
        "moca.m must be a number in [0, 1)",
    ),
    ("K below batch", lambda t: [*LATENT, "--set", "moca.K=8"], "at least the batch size 16"),
    ("K float", lambda t: [*LATENT, "--set", "moca.K=20.5"], "moca.K must be an integer > 0"),
    (
        "unknown hparam",
        lambda t: [*LATENT, "--set", "mmd.sigma=1"],
        "mmd has no hyper-parameter 'sigma'",
    ),
    ("bad kernel", lambda t: [*LATENT, "--set", "mmd.kernel=laplace"], "mmd.kernel must be one of"),
    ("swd L zero", lambda t: [*LATENT, "--set", "swd.L=0"], "swd.L must be an integer > 0"),
    ("blur negative", lambda t: [*LATENT, "--set", "sinkhorn.blur=-1"], "sinkhorn.blur must be"),
    ("malformed set", lambda t: [*LATENT, "--set", "tau=0.1"], "--set expects METHOD.PARAM=VALUE"),
    ("epochs zero", lambda t: [*LATENT, "--epochs", "0"], "epochs must be an integer > 0, got 0"),
    ("epochs text", lambda t: [*LATENT, "--epochs", "ten"], "invalid int value: 'ten'"),
    (
        "batch negative",
        lambda t: [*LATENT, "--batch-size", "-4"],
        "batch_size must be an integer > 0",
    ),
    ("lr nan", lambda t: [*LATENT, "--lr", "nan"], "lr must be a finite number > 0"),
    ("seeds zero", lambda t: [*LATENT, "--seeds", "0"], "--seeds must be >= 1"),
    ("unknown device", lambda t: [*LATENT, "--device", "tpu"], "unknown device 'tpu'"),
    ("unknown flag", lambda t: [*LATENT, "--epoch", "3"], "unrecognized arguments: --epoch 3"),
    # config files
    ("config missing", lambda t: [*LATENT, "--config", str(t / "no.toml")], "not found"),
    (
        "config bad toml",
        lambda t: [*LATENT, "--config", write(t, "c.toml", "epochs = [")],
        "is not valid TOML",
    ),
    (
        "config unknown key",
        lambda t: [*LATENT, "--config", write(t, "c.toml", "epoch = 3\n")],
        "unknown setting epoch",
    ),
    (
        "config wrong type",
        lambda t: [*LATENT, "--config", write(t, "c.json", '{"lr": "fast"}')],
        "lr must be a finite number > 0, got 'fast'",
    ),
    (
        "config graphs text",
        lambda t: [*LATENT, "--config", write(t, "c.toml", 'graphs = "yes"\n')],
        "graphs must be true or false, got 'yes'",
    ),
    (
        "sinkhorn diameter",
        lambda t: [*LATENT, "--set", "sinkhorn.diameter=0"],
        "sinkhorn.diameter must be a finite number > 0",
    ),
    (
        "config suffix",
        lambda t: [*LATENT, "--config", write(t, "c.ini", "x=1")],
        "must end in .toml or .json",
    ),
    # image task
    (
        "missing dataset",
        lambda t: [*IMAGE, "--dataset", "cifar10", "--data-root", str(t / "none")],
        "cifar10: expected data_batch_1",
    ),
    ("unknown dataset", lambda t: [*IMAGE, "--dataset", "svhn"], "unknown dataset 'svhn'"),
    ("unknown arch", lambda t: [*IMAGE, "--arch", "vit"], "unknown architecture 'vit'"),
    ("arch size", lambda t: [*IMAGE, "--arch", "a2"], "a2 supports 32, 64 px images, got 16 px"),
    (
        "lambda negative",
        lambda t: [*IMAGE, "--lambdas", "-1"],
        "lambda must be a finite number >= 0",
    ),
    ("lambda text", lambda t: [*IMAGE, "--lambdas", "big"], "expects numbers such as 1,10"),
    ("amp fp8", lambda t: [*IMAGE, "--amp", "fp8"], "invalid choice: 'fp8'"),
    ("corrupt checkpoint", corrupt_checkpoint, "cannot be read"),
    ("foreign checkpoint", foreign_checkpoint, "does not fit this run"),
    ("resume other settings", mismatched_resume, "settings differ from the run"),
    # sweeps
    (
        "sweep empty grid",
        lambda t: ["sweep", write(t, "s.toml", 'task = "latent"\n[grid]\nseeds = []\n')],
        "grid.seeds must be a non-empty list",
    ),
    (
        "sweep unknown task",
        lambda t: ["sweep", write(t, "s.toml", 'task = "video"\n')],
        "sweep task must be one of latent, image",
    ),
    (
        "sweep unknown key",
        lambda t: ["sweep", write(t, "s.toml", 'task = "latent"\n[grid]\nmoca = [1]\n')],
        "unknown grid key 'moca'",
    ),
    (
        "sweep bad value",
        lambda t: [
            "sweep",
            write(
                t, "s.toml", 'task = "latent"\n[grid]\nmethods = ["moca"]\n"moca.tau" = [0.1, 0]\n'
            ),
        ],
        "moca.tau must be a finite number > 0, got 0",
    ),
    (
        "sweep K below batch",
        lambda t: [
            "sweep",
            write(t, "s.toml", 'task = "image"\n[grid]\nmethods = ["moca"]\n"moca.K" = [16]\n'),
        ],
        "at least the batch size 64",
    ),
    (
        "sweep lambdas latent",
        lambda t: ["sweep", write(t, "s.toml", 'task = "latent"\n[grid]\nlambdas = [1.0]\n')],
        "lambdas apply to the image task only",
    ),
    ("sweep preset", lambda t: ["sweep", "--preset", "beta"], "unknown preset 'beta'"),
    ("sweep nothing", lambda t: ["sweep"], "give a sweep file or --preset NAME"),
    (
        "sweep executor",
        lambda t: ["sweep", "--preset", "tau", "--executor", "slurm"],
        "unknown executor 'slurm'",
    ),
    (
        "sweep jobs",
        lambda t: ["sweep", "--preset", "tau", "--jobs", "0"],
        "--jobs must be an integer >= 1",
    ),
    (
        "unwritable out",
        lambda t: [*LATENT, "--out", str(Path(write(t, "f", "x")) / "run")],
        "cannot write to output folder",
    ),
    (
        "sweep unwritable out",
        lambda t: ["sweep", "--preset", "tau", "--out", str(Path(write(t, "g", "x")) / "s")],
        "cannot write to output folder",
    ),
    # run folders (never lose a result)
    ("folder holds a run", lambda t: [*LATENT], "holds a run already; pass --resume"),
    ("resume and overwrite", lambda t: [*LATENT, "--resume", "--overwrite"], "pass one"),
    ("report damaged csv", damaged_run, "curves.csv in "),
    ("compare damaged csv", lambda t: ["compare", str(damaged_run(t)[1])], "is damaged"),
    # other commands
    ("report empty folder", lambda t: ["report", str(t / "empty")], "config.json not found"),
    (
        "timing bad json",
        lambda t: ["timing", write(t, "b.json", "[1, 2")],
        "is not a pytest-benchmark JSON",
    ),
]


@pytest.mark.parametrize(
    ("make_args", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_one_line_exit_2_files_intact(tmp_path, capsys, make_args, message):
    out = tmp_path / "out"
    out.mkdir()
    (out / "curves.csv").write_text(SENTINEL)
    args = make_args(tmp_path)
    capsys.readouterr()
    if args[0] in ("latent", "image", "sweep") and "--out" not in args:
        args = [
            *args,
            "--out",
            str(out if args[0] != "image" or "--resume" not in args else tmp_path / "run"),
        ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("wae-bench: error: ") and err.count("\n") == 1, err
    assert message in err and "Traceback" not in err
    assert (out / "curves.csv").read_text() == SENTINEL
    # nothing written but, where the run got as far as locking the folder, its emptied lock
    assert sorted(p.name for p in out.iterdir() if p.name != ".lock") == ["curves.csv"]
    assert not (out / ".lock").exists() or (out / ".lock").read_text() == ""


def test_the_corpus_has_at_least_30_cases():
    assert len(CASES) >= 30
