"""`wae-bench compare`: side-by-side tables and figure, and the --check gate's verdicts."""

import pandas as pd
import pytest

from wae_bench.cli import main

from tests.helpers.runs import LATENT_TINY as TINY


def tiny_run(path, *extra):
    assert main([*TINY, "--methods", "moca,mmd", "--seeds", "3", *extra, "--out", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("ref") / "run")


def test_a_rerun_passes_the_check_and_the_outputs_are_written(reference, tmp_path, capsys):
    again = tiny_run(tmp_path / "again")
    code = main(["compare", str(again), "--check", str(reference), "--out", str(tmp_path / "c")])
    out = capsys.readouterr().out
    assert code == 0 and "all values within mean ± 3 std" in out
    table = pd.read_csv(tmp_path / "c" / "compare.csv")
    assert set(table["epoch"]) == {1, 2} and table["within"].all()
    assert (table["z"].abs() < 1e-9).all()  # same code, seeds and machine: the same numbers
    assert (tmp_path / "c" / "compare.png").stat().st_size > 0
    assert "| moca | 1 |" in (tmp_path / "c" / "compare.md").read_text()


def test_moved_numbers_fail_the_check_naming_method_and_epoch(reference, tmp_path, capsys):
    moved = tiny_run(tmp_path / "moved", "--lr", "0.05")
    assert main(["compare", str(moved), "--check", str(reference)]) == 1
    captured = capsys.readouterr()
    assert "wae-bench: outside the reference: " in captured.err
    assert "moca epoch 2: swd" in captured.err and "**out**" in captured.out


def test_a_wider_band_accepts_what_the_default_refuses(reference, tmp_path):
    moved = tiny_run(tmp_path / "moved", "--lr", "0.002")
    assert main(["compare", str(moved), "--check", str(reference), "--k", "1e6"]) == 0


def test_side_by_side_without_check_never_fails(reference, tmp_path, capsys):
    other = tiny_run(tmp_path / "other", "--lr", "0.05")
    assert main(["compare", str(reference), str(other)]) == 0
    assert "run 2" in capsys.readouterr().out


def test_runs_of_different_tasks_are_refused(reference, tmp_path, capsys):
    from tests.helpers.runs import IMAGE_TINY as IMAGE

    assert main([*IMAGE, "--methods", "mmd", "--out", str(tmp_path / "img")]) == 0
    assert main(["compare", str(reference), str(tmp_path / "img")]) == 2
    assert "compare runs of one task" in capsys.readouterr().err


@pytest.mark.parametrize("shift", [0.5, -0.5])
def test_the_verdict_names_the_lower_run_first(reference, tmp_path, capsys, shift):
    # run 2 is run 1 shifted on every seed (with a little seed noise): its sign is known
    shifted = tmp_path / "shifted"
    shifted.mkdir()
    for name in ("config.json",):
        (shifted / name).write_bytes((reference / name).read_bytes())
    curves = pd.read_csv(reference / "curves.csv")
    curves["swd"] = curves["swd"] + shift + 0.01 * curves["seed"]
    curves.to_csv(shifted / "curves.csv", index=False)
    assert main(["compare", str(reference), str(shifted)]) == 0
    out = capsys.readouterr().out
    lower, higher = ("run 1", "run 2") if shift > 0 else ("run 2", "run 1")
    by = abs(shift + 0.01)  # the mean shift over seeds 0, 1, 2
    assert f"moca swd at epoch 2: {lower} is lower than {higher} by {by:.3f} [" in out, out
    assert "Holm-adjusted" in out
