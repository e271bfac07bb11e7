"""`--device auto` follows each task's documented rule; `--jobs N` trains a command's runs in
N worker processes and writes exactly what a serial run writes (issue 9, parts 3 and 4)."""

import datetime
import json
import os
import re
import signal
import warnings

import pandas as pd
import pytest
import torch

import regularizers
from wae_bench import command, points, tasks
from wae_bench.cli import main
from wae_bench.execution import Execution
from wae_bench.loggers import CsvLogger

from tests.conftest import registered
from tests.helpers.runs import IMAGE_TINY as IMAGE
from tests.helpers.runs import LATENT_TINY as LATENT
from tests.helpers.runs import Exploding

LATENT_RUNS = [*LATENT, "--methods", "moca,mmd", "--seeds", "2"]
TIMING = ("seconds",)  # the only column that may differ between serial and parallel runs


@pytest.fixture(autouse=True)
def _one_thread():
    """Workers use the parent's torch threads; one each keeps 2 workers within 2 cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def serial_latent(tmp_path_factory):
    """The serial run the parallel ones must reproduce."""
    out = tmp_path_factory.mktemp("serial")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    assert main([*LATENT_RUNS, "--out", str(out)]) == 0
    torch.set_num_threads(threads)
    return out


def summary_without_timing(folder) -> tuple[pd.DataFrame, list[str]]:
    """summary.csv and summary.md with the columns that count seconds left out."""
    table = pd.read_csv(folder / "summary.csv")
    table = table.drop(columns=[c for c in table if "seconds" in c])
    lines = (folder / "summary.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| method"))
    timed = [i for i, cell in enumerate(header.split("|")) if "second" in cell or "s /" in cell]
    rows = ["|".join(c for i, c in enumerate(line.split("|")) if i not in timed)
            for line in lines if line.startswith("|")]  # fmt: skip
    return table, rows


def assert_same_outputs(serial, parallel, result_file: str) -> None:
    a, b = (pd.read_csv(folder / result_file) for folder in (serial, parallel))
    pd.testing.assert_frame_equal(a.drop(columns=list(TIMING)), b.drop(columns=list(TIMING)))
    (table_a, md_a), (table_b, md_b) = map(summary_without_timing, (serial, parallel))
    pd.testing.assert_frame_equal(table_a, table_b)
    assert md_a == md_b
    configs = [json.loads((folder / "config.json").read_text()) for folder in (serial, parallel)]
    assert [c["execution"].pop("jobs") for c in configs] == [1, 2]
    assert [c["execution"].pop("out") for c in configs] == [str(serial), str(parallel)]
    for c in configs:  # when each command started: its own
        datetime.datetime.fromisoformat(c["environment"].pop("date"))
    assert configs[0] == configs[1]  # the device and every other setting
    files = [sorted(p.relative_to(f) for p in f.rglob("*")) for f in (serial, parallel)]
    assert files[0] == files[1]  # every output, each run's checkpoint, no temporary file


def test_auto_picks_the_gpu_only_for_tasks_that_run_faster_there(monkeypatch):
    latent, image = tasks.get("latent"), tasks.get("image")
    def choose(task, device):
        return command.choose_device(task, task.config(), Execution(device=device))

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the decision only
    assert choose(latent, "auto").type == "cpu"  # launch-bound MLP: the H100 measurement
    assert choose(image, "auto").type == "cuda"
    assert choose(latent, "cuda").type == "cuda" and choose(image, "cpu").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose(latent, "auto").type == "cpu" and choose(image, "auto").type == "cpu"


def test_jobs_2_writes_what_a_serial_run_writes(tmp_path, serial_latent):
    assert main([*LATENT_RUNS, "--jobs", "2", "--out", str(tmp_path / "jobs")]) == 0
    assert_same_outputs(serial_latent, tmp_path / "jobs", "curves.csv")
    saved = json.loads((tmp_path / "jobs" / "config.json").read_text())
    assert saved["execution"]["device"] == "auto" and saved["environment"]["device"] == "cpu"


def test_image_jobs_2_writes_the_serial_files_and_after_run_outputs(tmp_path):
    args = [*IMAGE, "--methods", "moca,mmd", "--epochs", "1"]
    assert main([*args, "--out", str(tmp_path / "serial")]) == 0
    assert main([*args, "--jobs", "2", "--out", str(tmp_path / "jobs")]) == 0
    assert_same_outputs(tmp_path / "serial", tmp_path / "jobs", "metrics.csv")
    for name in ("singular_values.csv", "visuals/moca_lam1.png", "visuals/mmd_lam1.png"):
        serial, jobs = ((tmp_path / run / name).read_bytes() for run in ("serial", "jobs"))
        assert serial == jobs, name  # written by after_run/finish in the parent, in order


def test_resume_with_jobs_after_an_interruption_gives_the_same_curves(
    tmp_path, monkeypatch, capsys, serial_latent
):
    real, calls = CsvLogger.row, {"n": 0}

    def interrupted(self, run_id, row):
        calls["n"] += 1
        if calls["n"] == 4:  # the parent, logging the second run: Ctrl-C
            raise KeyboardInterrupt
        return real(self, run_id, row)

    monkeypatch.setattr(CsvLogger, "row", interrupted)
    assert main([*LATENT_RUNS, "--jobs", "2", "--out", str(tmp_path / "resumed")]) == 130
    assert "interrupted" in capsys.readouterr().err
    monkeypatch.undo()
    partial = pd.read_csv(tmp_path / "resumed" / "curves.csv")
    assert len(partial) == 3  # the first run's rows; the others stopped at a checkpoint
    assert main([*LATENT_RUNS, "--jobs", "2", "--resume", "--out", str(tmp_path / "resumed")]) == 0
    a, b = (pd.read_csv(f / "curves.csv") for f in (serial_latent, tmp_path / "resumed"))
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))
    assert not [p for p in (tmp_path / "resumed").rglob(".*") if p.name != ".lock"]


def test_a_diverging_run_in_a_worker_ends_the_command_as_in_a_serial_run(tmp_path, capsys):
    with registered(Exploding):  # a method registered at run time reaches the workers
        code = main([*LATENT, "--methods", "mmd,exploding", "--jobs", "2", "--out", str(tmp_path)])
    assert code == 1  # the message and rows of a serial run (test_latent_cli)
    assert capsys.readouterr().err == (
        "wae-bench: diverged: exploding_seed0: loss became nan in epoch 1\n"
    )
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert list(curves["method"]) == ["mmd"] * 3 + ["exploding"]  # its epoch 0 row too


@pytest.mark.parametrize("value", ["0", "-1"])
def test_jobs_below_1_is_a_one_line_error(tmp_path, capsys, value):
    assert main([*LATENT, "--jobs", value, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    expected = f"jobs must be an integer > 0, got {value}; pass e.g. --jobs 1"
    assert err == f"wae-bench: error: {expected}\n"
    assert not any(tmp_path.iterdir())


def test_how_a_command_runs_is_no_setting_of_what_it_measures():
    cfg = tasks.get("latent").config
    assert "jobs" not in cfg().to_dict() and "jobs" in Execution().to_dict()
    with pytest.raises(TypeError):
        cfg(jobs=4)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--executor", "ray", "--gpus-per-run", "0"], "--gpus-per-run must be in (0, 1], got 0.0"),
        (["--executor", "ray", "--gpus-per-run", "1.5"], "--gpus-per-run must be in (0, 1]"),
        (["--gpus-per-run", "0.5"], "--gpus-per-run applies to --executor ray"),
    ],
)
def test_gpus_per_run_is_checked(tmp_path, capsys, flags, message):
    assert main(["sweep", "--preset", "tau", "--out", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_ray_runs_ask_for_their_share_of_a_gpu():
    def run(task, device):
        return {"task": task, "settings": tasks.get(task).config().to_dict(),
                "execution": {"device": device}}

    assert points.ray_gpus(run("image", "cuda"), 0.25, cluster_gpus=0) == 0.25
    assert points.ray_gpus(run("latent", "cuda"), 0.25, cluster_gpus=1) == 0.25
    assert points.ray_gpus(run("image", "cpu"), 0.25, cluster_gpus=1) == 0
    assert points.ray_gpus(run("image", "auto"), 0.5, cluster_gpus=1) == 0.5  # prefers the GPU
    assert points.ray_gpus(run("latent", "auto"), 0.5, cluster_gpus=1) == 0  # prefers the CPU
    assert points.ray_gpus(run("image", "auto"), 0.5, cluster_gpus=0) == 0


class WarnsEachStep(regularizers.Regularizer):
    """A method that warns at every step (as a step that cannot be captured warns once per
    worker on CUDA)."""

    name = "warns-each-step"

    def forward(self, z, x):
        warnings.warn("warns-each-step: a warning of the training step", stacklevel=2)
        return z.pow(2).mean()


def in_a_worker() -> bool:
    """True in a worker process of the test's command (its parent set the variable)."""
    return os.environ.get("WAE_TEST_PARENT_PID", str(os.getpid())) != str(os.getpid())


class KilledInAWorker(regularizers.Regularizer):
    """A method whose worker process is killed by a signal, as the system's OOM killer does."""

    name = "killed"

    def forward(self, z, x):
        if in_a_worker():
            os.kill(os.getpid(), signal.SIGKILL)
        return z.pow(2).mean()


class OutOfMemoryInAWorker(regularizers.Regularizer):
    """A method whose step runs out of GPU memory in a worker."""

    name = "oom"

    def forward(self, z, x):
        if in_a_worker():
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return z.pow(2).mean()


def test_a_workers_warnings_are_shown_once_per_command(tmp_path, capfd):
    with registered(WarnsEachStep), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main([*LATENT, "--methods", "warns-each-step,mmd", "--seeds", "2", "--jobs", "2",
                     "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    shown = [w for w in caught if "warns-each-step" in str(w.message)]
    assert len(shown) == 1  # two runs in two workers, many steps each
    assert "warns-each-step" not in capfd.readouterr().err  # no worker printed it itself


def test_a_worker_killed_by_the_system_is_a_one_line_error_naming_the_run(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("WAE_TEST_PARENT_PID", str(os.getpid()))
    with registered(KilledInAWorker):
        code = main([*LATENT, "--methods", "killed,mmd", "--jobs", "2", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    found = re.fullmatch(
        r"wae-bench: error: a worker process was killed \(most often by the system, for lack "
        r"of memory with 2 runs at a time\) while these runs trained: (.+); pass a smaller "
        r"--jobs \(e\.g\. --jobs 1\), with --resume to keep the finished epochs\n",
        err,
    )  # fmt: skip
    assert found, err
    assert "killed_seed0" in found[1].split(", ")  # mmd_seed0 too when it was still training
    assert set(found[1].split(", ")) <= {"killed_seed0", "mmd_seed0"}


def test_a_worker_out_of_memory_is_a_one_line_error_naming_the_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WAE_TEST_PARENT_PID", str(os.getpid()))
    with registered(OutOfMemoryInAWorker):
        code = main([*LATENT, "--methods", "oom,mmd", "--jobs", "2", "--out", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err == (
        "wae-bench: error: oom_seed0: out of memory with 2 runs at a time; pass a smaller "
        "--jobs (e.g. --jobs 1), with --resume to keep the finished epochs\n"
    )


class NotCapturable(regularizers.Regularizer):
    """A plug-in without ``capturable = True``: on CUDA each run warns that it trains eagerly."""

    name = "not-capturable"

    def forward(self, z, x):
        return z.pow(2).mean()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_jobs_on_cuda_write_the_serial_files_with_one_graph_warning(tmp_path):
    """Two workers share the GPU; every file equals the serial run's, and the warning that
    a method trains eagerly, which each worker raises, is shown once."""
    args = [*LATENT, "--methods", "moca,not-capturable", "--seeds", "2", "--device", "cuda"]
    with registered(NotCapturable):
        assert main([*args, "--out", str(tmp_path / "serial")]) == 0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert main([*args, "--jobs", "2", "--out", str(tmp_path / "jobs")]) == 0
    assert_same_outputs(tmp_path / "serial", tmp_path / "jobs", "curves.csv")
    eager = [w for w in caught if "does not declare capturable = True" in str(w.message)]
    assert len(eager) == 1
