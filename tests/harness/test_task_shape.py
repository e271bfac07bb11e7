"""The task layer: a registry the CLI, sweeps and report read; one way to bind; the plug-in
seam's guarantees (no silent replacement, after_step's grad mode, K kept as set)."""

import dataclasses
import doctest
import json
from dataclasses import dataclass, field

import pandas as pd
import pytest
import torch

import regularizers
import regularizers.base
from wae_bench import config as config_io
from wae_bench import methods, tasks
from wae_bench.cli import main
from wae_bench.errors import UsageError
from wae_bench.tasks.base import About
from wae_bench.tasks.latent import LatentConfig, LatentTask

from tests.conftest import registered


def test_registry_lists_both_tasks_in_cli_order():
    assert tasks.names() == ["latent", "image"]
    with pytest.raises(UsageError, match="unknown task 'video'; choose from latent, image"):
        tasks.get("video")


@dataclass(kw_only=True)
class EchoConfig(LatentConfig):
    methods: list[str] = field(default_factory=lambda: ["swd"])
    epochs: int = 2

    def eval_due(self, epoch):
        return epoch % 2 == 0


class EchoTask(LatentTask):
    """A third task, declared in one class: the latent task evaluated every other epoch."""

    name = "echo"
    about = About(help="test task")
    config = EchoConfig
    results = dataclasses.replace(LatentTask.results, file="echo.csv")


@pytest.fixture
def echo_task(monkeypatch):
    monkeypatch.setitem(tasks._discover(), "echo", EchoTask())


def test_a_new_task_plugs_into_cli_sweep_and_report_without_touching_them(
    tmp_path, echo_task, capsys
):
    tiny = ["--points", "32", "--batch-size", "16", "--data-dim", "4", "--hidden-dim", "8",
            "--latent-dim", "4", "--eval-directions", "10", "--quiet"]  # fmt: skip
    assert main(["echo", *tiny, "--epochs", "4", "--out", str(tmp_path / "run")]) == 0
    rows = pd.read_csv(tmp_path / "run" / "echo.csv")
    assert list(rows["epoch"]) == [0, 2, 4]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["task"] == "echo"
    (tmp_path / "run" / "summary.md").unlink()
    assert main(["report", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "summary.md").exists()
    sweep_file = tmp_path / "grid.toml"
    sweep_file.write_text(
        'task = "echo"\n[settings]\npoints = 32\nbatch_size = 16\ndata_dim = 4\nhidden_dim = 8\n'
        'latent_dim = 4\neval_directions = 10\n[grid]\nseeds = [0]\n"swd.L" = [5, 10]\n'
    )
    assert main(["sweep", str(sweep_file), "--jobs", "1", "--out", str(tmp_path / "sw"),
                 "--quiet"]) == 0  # fmt: skip
    table = pd.read_csv(tmp_path / "sw" / "sweep.csv")
    assert list(table["status"]) == ["finished", "finished"] and "swd" in table


def test_a_grid_that_cannot_run_is_refused_before_any_run_starts(tmp_path, capsys):
    sweep_file = tmp_path / "grid.toml"
    sweep_file.write_text(
        'task = "latent"\n[settings]\nprior = "gaussian"\nepochs = 1\n'
        '[grid]\nmethods = ["mmd", "moca"]\n'
    )
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "sw")]) == 2
    err = capsys.readouterr().err
    assert "moca needs codes on the unit sphere; use the sphere prior" in err
    assert not (tmp_path / "sw").exists()  # nothing ran, nothing was written


def test_binding_errors_are_one_usage_error_everywhere():
    encoder = torch.nn.Linear(4, 4)
    plan = regularizers.TrainingPlan(batch_size=64, total_steps=1, dataset_size=100)
    with pytest.raises(UsageError) as bound:
        methods.bind("moca", {"K": 16}, encoder=encoder, prior=regularizers.SpherePrior(4),
                     plan=plan)  # fmt: skip
    assert str(bound.value) == (
        "moca: moca.K (queue size) must be at least the batch size 64, got 16; raise moca.K or "
        "lower the batch size (set with --set moca.PARAM=VALUE)"
    )
    with pytest.raises(UsageError, match=r"^mmd: mmd has no hyper-parameter 'sigma'"):
        methods.build("mmd", {"sigma": 1})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ([1.0, 10.0], {"moca": [1.0, 10.0], "mmd": [1.0, 10.0]}),  # grids, flat lists
        ({"moca": [5.0]}, {"moca": [5.0]}),  # config files
        ([(None, [1.0]), ("mmd", [2.0, 3.0])], {"moca": [1.0], "mmd": [2.0, 3.0]}),  # flags
    ],
)
def test_every_spelling_of_lambdas_becomes_one_table(given, expected):
    assert config_io.lambda_table(given, ["moca", "mmd"]) == expected


def test_register_refuses_an_existing_name_unless_asked_to_replace():
    class Impostor(regularizers.Regularizer):
        name = "moca"

        def forward(self, z, x):
            return z.sum()

    with registered():
        with pytest.raises(ValueError, match="'moca' is registered already .*replace=True"):
            regularizers.register(Impostor)
        assert regularizers.get("moca").__name__ == "MoCA"
        regularizers.register(Impostor, replace=True)
        assert regularizers.get("moca") is Impostor
    assert regularizers.get("moca").__name__ == "MoCA"


class GradModeProbe(regularizers.Regularizer):
    """Records the grad mode after_step is called in."""

    name = "grad-mode-probe"
    modes: list = []

    def forward(self, z, x):
        return z.square().mean()

    def after_step(self, z, x):
        GradModeProbe.modes.append(torch.is_grad_enabled())


def test_after_step_runs_without_gradients_whatever_the_override(tmp_path):
    GradModeProbe.modes.clear()
    with registered(GradModeProbe):
        assert main(["latent", "--methods", "grad-mode-probe", "--epochs", "1", "--points", "32",
                     "--batch-size", "16", "--quiet", "--out", str(tmp_path)]) == 0  # fmt: skip
    assert GradModeProbe.modes == [False, False]


def test_moca_keeps_the_queue_size_the_user_set_apart_from_the_resolved_one():
    regularizer = regularizers.build("moca")
    regularizer.bind(torch.nn.Linear(4, 4), regularizers.SpherePrior(4),
             regularizers.TrainingPlan(batch_size=8, total_steps=10, dataset_size=100))  # fmt: skip
    assert regularizer.K is None and regularizer.queue_size == 100
    assert regularizer.hparams()["K"] is None and regularizer.resolved()["K"] == 100


@pytest.mark.parametrize("module", [regularizers, regularizers.base], ids=lambda m: m.__name__)
def test_public_regularizer_api_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
