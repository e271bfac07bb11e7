"""The fixed cost of a command: a training command loads no table, figure or image library
before it trains (pandas comes with the first result row, torchvision with the image task's
data), a latent run never loads matplotlib (its figures come from `wae-bench report`), and
every task's flags are still there."""


import pytest

from wae_bench.cli import main

from tests.helpers.imports import heavy_modules_loaded


def test_importing_the_cli_and_the_latent_task_loads_no_heavy_library():
    loaded = heavy_modules_loaded("""
        import wae_bench.cli
        import wae_bench.command
        from wae_bench import tasks

        tasks.get("latent")
        wae_bench.cli.build_parser()
    """)
    assert loaded == []


def test_a_latent_run_loads_no_heavy_library_before_it_trains(tmp_path):
    # the run stops where the run loop starts: set up, every method bound, config.json written
    loaded = heavy_modules_loaded(f"""
        from wae_bench import cli, command

        def stop(task, ctx, out):
            raise KeyboardInterrupt

        command._train_runs = stop
        cli.main(["latent", "--methods", "moca,mmd", "--epochs", "1", "--quiet",
                  "--out", {str(tmp_path)!r}])
    """)
    assert (tmp_path / "config.json").is_file()
    assert loaded == []


def test_a_whole_latent_run_writes_its_tables_without_a_figure_library(tmp_path):
    # its figures come from `wae-bench report`: matplotlib is a run's largest fixed cost
    loaded = heavy_modules_loaded(f"""
        from wae_bench import cli

        assert cli.main(["latent", "--methods", "moca", "--epochs", "1", "--points", "64",
                         "--quiet", "--out", {str(tmp_path)!r}]) == 0
    """)
    assert (tmp_path / "summary.md").is_file()
    assert loaded == ["pandas"]  # the summary's tables


@pytest.mark.parametrize(
    ("task", "own", "other"),
    [("latent", ["--latent-dims", "--prior"], "--lambdas"),
     ("image", ["--lambdas", "--fid-weights"], "--latent-dims")],
)  # fmt: skip
def test_help_of_each_task_lists_the_shared_and_its_own_flags(task, own, other, capsys):
    with pytest.raises(SystemExit) as finished:
        main([task, "--help"])
    assert finished.value.code == 0
    text = capsys.readouterr().out
    assert all(flag in text for flag in ["--methods", "--epochs", "--out", *own])
    assert other not in text
