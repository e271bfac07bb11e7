"""`wae-bench results`: every run folder as one long table, checked value for value against the
folders' CSV files; --best's intervals against scipy; bad folders are one-line errors."""

import hashlib
import json
import math
import shutil
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from wae_bench import environment, results_best, results_table, run_files, table_rows
from wae_bench.cli import main
from wae_bench.lock import RunLock

from tests.helpers.runs import IMAGE_TINY, TINY_SWEEP, run_cli, tune_cli

ROOT = Path(__file__).resolve().parents[2]
KEYS = ["method", "lam", "seed", "epoch"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One folder holding a latent run, an image run, a dimension study, a tune, a sweep and a
    compare folder, each made with the real CLI."""
    root = tmp_path_factory.mktemp("results")
    assert run_cli("--methods", "moca,mmd", "--seeds", "3", "--out", root / "latent") == 0
    assert main([*IMAGE_TINY, "--out", str(root / "image")]) == 0
    assert run_cli("--methods", "moca,mmd", "--seeds", "2", "--latent-dims", "4,8",
                   "--out", root / "study") == 0  # fmt: skip
    assert tune_cli(root / "tune", methods="swd", trials=2, final_seeds=2) == 0
    spec = root / "tiny.toml"
    spec.write_text(TINY_SWEEP)
    assert main(["sweep", str(spec), "--jobs", "1", "--quiet", "--out",
                 str(root / "sweep")]) == 0  # fmt: skip
    assert main(["compare", str(root / "latent"), str(root / "latent"), "--out",
                 str(root / "compare")]) == 0  # fmt: skip
    return root


@pytest.fixture(scope="module")
def table(built):
    return results_table.collect([str(built)])


def run_folders(root: Path) -> dict[Path, str]:
    """{run folder: its result file}, found without the module under test."""
    found = {}
    for config in root.rglob("config.json"):
        record = json.loads(config.read_text())
        for name in ("curves.csv", "metrics.csv"):
            if "task" in record and (config.parent / name).is_file():
                found[config.parent] = name
    return found


def test_every_value_of_every_result_file_is_one_row_with_its_keys(built, table):
    expected = []
    for folder, name in run_folders(built).items():
        frame = pd.read_csv(folder / name)
        keys = [k for k in KEYS if k in frame]
        long = frame.melt(id_vars=keys, var_name="metric", value_name="value").dropna()
        expected.append(long.assign(run=str(folder)))
    expected = pd.concat(expected, ignore_index=True)
    got = table[table["kind"] != "compare"]
    assert len(got) == len(expected) > 0
    columns = ["run", *KEYS, "metric"]
    got = got[[*columns, "value"]].astype({"run": object, "method": object, "metric": object,
                                           "seed": float, "epoch": float})  # fmt: skip
    expected = expected.reindex(columns=[*columns, "value"]).astype(
        {"lam": float, "seed": float, "epoch": float})  # fmt: skip
    assert not got.duplicated(columns).any()
    merged = expected.merge(got, on=columns, how="outer", suffixes=("_csv", "_table"),
                            indicator=True)  # fmt: skip
    assert (merged["_merge"] == "both").all()
    assert np.array_equal(merged["value_csv"], merged["value_table"])  # exactly, not approx
    assert not table["value"].isna().any()


def test_the_rows_of_a_run_folder_give_its_result_file_back(built):
    # every report reads its result file through these rows (``table_rows``)
    for folder, name in run_folders(built).items():
        frame = run_files.read_csv(folder / name)
        back = table_rows.read_wide(folder, name, frame.columns)
        assert list(back.columns) == list(frame.columns)
        pd.testing.assert_frame_equal(back, frame, check_dtype=False)  # lam: float


def test_each_run_has_its_kind_and_experiment(built, table):
    kinds = table.drop_duplicates("run").set_index("run")
    b = str(built)
    assert kinds.loc[f"{b}/latent", "kind"] == "run" and kinds.loc[f"{b}/image", "kind"] == "run"
    assert kinds.loc[f"{b}/study/dim4_batch16", "kind"] == "study cell"
    assert kinds.loc[f"{b}/study/dim4_batch16", "experiment"] == f"{b}/study/dim4_batch16"
    assert kinds.loc[f"{b}/tune/runs/swd/0000", "kind"] == "tune trial"
    assert kinds.loc[f"{b}/tune/runs/confirm/swd/0000", "kind"] == "tune confirm"
    assert kinds.loc[f"{b}/tune/runs/final/swd", "kind"] == "tune final"
    assert kinds.loc[f"{b}/tune/runs/default/swd", "experiment"] == f"{b}/tune"
    points = kinds[kinds["kind"] == "sweep point"]
    assert len(points) == 4 and set(points["experiment"]) == {f"{b}/sweep"}
    assert set(points["status"]) == {"finished"}
    assert set(kinds["task"].dropna()) == {"latent", "image"}
    # a sweep point's settings carry its grid value, a study cell's its dimension
    settings = table.drop_duplicates(["run"]).set_index("run")["settings"]
    assert {json.loads(settings[p])["swd.L"] for p in points.index} == {10, 20}
    assert json.loads(settings[f"{b}/study/dim8_batch16"])["latent_dim"] == 8


def test_a_compare_folder_gives_its_statistics_without_a_seed(built, table):
    rows = table[table["kind"] == "compare"]
    compare = pd.read_csv(built / "compare" / "compare.csv")
    assert rows["seed"].isna().all() and set(rows["task"]) == {"latent"}
    means = rows[rows["metric"] == "swd_mean"].assign(
        compared=lambda f: [json.loads(s)["compared"] for s in f["settings"]])
    assert len(means) == len(compare)
    for r, m in zip(compare.itertuples(), means.itertuples(), strict=True):
        assert (m.compared, m.method, m.epoch, m.value) == (r.run, r.method, r.epoch, r.mean)


def test_provenance_is_recorded_for_every_run(built, table):
    runs = table[table["kind"] != "compare"]
    assert (runs["torch_version"] == version("torch")).all()  # as config.json records it
    assert (runs["device"] == "cpu").all() and runs["suite_version"].notna().all()
    assert set(runs["dataset"]) == {"synthetic", "digits"}
    # config.json records the commit of the source the runs were made from (this checkout)
    assert (runs["git_commit"].fillna("") == environment.git_commit()).all()
    assert runs["date"].map(lambda d: pd.Timestamp(d).year >= 2024).all()
    assert runs["config_hash"].str.fullmatch("[0-9a-f]{64}").all()
    per_run = runs.groupby("run")["config_hash"].nunique()
    assert (per_run == 1).all()  # one record, one hash
    cells = runs[runs["kind"] == "study cell"].drop_duplicates("run")["config_hash"]
    assert cells.nunique() == 2
    record = json.loads((built / "latent" / "config.json").read_text())
    free = {"device", "graphs", "out", "quiet", "resume", "tensorboard", "overwrite", "jobs",
            "baseline"}  # how it ran is not what it measured
    identity = {k: v for k, v in record["config"].items() if k not in free}
    canonical = json.dumps({"task": "latent", "config": identity}, sort_keys=True,
                           separators=(",", ":"))  # fmt: skip
    mine = runs[runs["run"] == str(built / "latent")]["config_hash"].iloc[0]
    assert mine == hashlib.sha256(canonical.encode()).hexdigest()


def test_the_parquet_file_round_trips_through_pandas(built, table, tmp_path, capsys):
    out = tmp_path / "all.parquet"
    assert main(["results", str(built), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: {len(table)} rows" in printed
    pd.testing.assert_frame_equal(pd.read_parquet(out), table)
    assert main(["results", str(built), "--out", str(out)]) == 0  # a Parquet file is replaced


def test_best_interval_is_the_student_t_interval_of_the_seeds(built, table, capsys):
    curves = pd.read_csv(built / "latent" / "curves.csv")
    at = curves[curves["epoch"] == 2].set_index(["method", "seed"])["swd"]
    ranked = results_best.best(table, "latent", epoch=2)
    mine = ranked[ranked["experiment"] == str(built / "latent")].set_index("method")
    for method in ("moca", "mmd"):
        values = at[method].to_numpy()
        low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(),
                                     scale=stats.sem(values))  # fmt: skip
        row = mine.loc[method]
        assert row["n"] == 3 and row["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert (row["low"], row["high"]) == pytest.approx((low, high), rel=1e-9)
    assert list(mine.sort_values("rank")["mean"]) == sorted(mine["mean"])
    second = mine[mine["rank"] == 2].iloc[0]
    diffs = at[second.name].to_numpy() - at[mine[mine["rank"] == 1].index[0]].to_numpy()
    low, high = stats.t.interval(0.95, 2, loc=diffs.mean(), scale=stats.sem(diffs))
    assert (second["diff_low"], second["diff_high"]) == pytest.approx((low, high), rel=1e-9)
    # the command prints the same interval, with what it is
    assert main(["results", str(built), "--best", "--task", "latent", "--epoch", "2",
                 "--out", str(built.parent / "best.parquet")]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    top = mine[mine["rank"] == 1].iloc[0]
    cell = results_best.intervals.format_interval(top["mean"], top["low"], top["high"])
    assert f"| {built / 'latent'} | 2 | 3: 0-2 | {top.name} {cell} |" in printed
    assert "95% Student t interval" in printed and "**image**" not in printed


def test_best_skips_one_seed_groups_and_says_so(table, capsys):
    text = results_best.markdown(results_best.best(table, "image"))
    assert "(no experiment with two seeds or more)" in text and "Left out: 1 experiment" in text


def copy_of(built, tmp_path, name="latent") -> Path:
    return Path(shutil.copytree(built / name, tmp_path / "copy" / name)).parent


def error_of(capsys, *args) -> str:
    assert main(["results", *map(str, args)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize(("damage", "why"), [
    (lambda text: text[:-7], "the last line is cut off"),
    (lambda text: text.replace("\nmmd,0,1,", "\nmmd,0,1,abc", 1), "column swd holds text"),
    (lambda text: text + text.splitlines()[1] + "\n", "two rows for method moca, seed 0, epoch 0"),
])  # fmt: skip
def test_a_damaged_csv_is_one_line_and_nothing_is_written(built, tmp_path, capsys, damage, why):
    folder = copy_of(built, tmp_path)
    curves = folder / "latent" / "curves.csv"
    curves.write_text(damage(curves.read_text()))
    out = tmp_path / "t.parquet"
    err = error_of(capsys, folder, "--out", out)
    assert f"curves.csv in {folder / 'latent'} is damaged ({why})" in err and "restore" in err
    assert not out.exists()


def test_a_folder_still_being_written_is_one_line(built, tmp_path, capsys):
    folder = copy_of(built, tmp_path)
    out = tmp_path / "t.parquet"
    with RunLock(folder / "latent"):
        err = error_of(capsys, folder, "--out", out)
    assert "still being written" in err and str(folder / "latent") in err and "wait" in err
    assert not out.exists()
    assert main(["results", str(folder), "--out", str(out)]) == 0  # released: read


def test_a_folder_without_runs_and_a_bad_out_are_one_line(built, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no run here\n")
    assert "holds no wae-bench run folder" in error_of(capsys, tmp_path / "empty", "--out",
                                                       tmp_path / "t.parquet")  # fmt: skip
    assert "is not a folder" in error_of(capsys, tmp_path / "missing")
    assert "must end in .parquet" in error_of(capsys, built, "--out", tmp_path / "t.csv")
    precious = tmp_path / "kept.parquet"
    precious.write_text("not parquet\n")
    assert "is not a Parquet file" in error_of(capsys, built, "--out", precious)
    assert precious.read_text() == "not parquet\n"
    assert "add --best" in error_of(capsys, built, "--epoch", "2")
    err = error_of(capsys, built, "--best", "--task", "latent", "--epoch", "7", "--out",
                   tmp_path / "t.parquet")  # fmt: skip
    assert "no latent run evaluated epoch 7; --epoch one of 0, 1, 2" in err
    assert "no run of the task 'celeb'" in error_of(capsys, built, "--best", "--task", "celeb",
                                                    "--out", tmp_path / "t.parquet")
    assert "no run measured fid; --metric one of image_swd, image_swd_floor" in error_of(
        capsys, built, "--best", "--metric", "fid", "--out", tmp_path / "t.parquet")
    assert "no recon values in the latent runs; --metric one of loss, noise_floor" in error_of(
        capsys, built, "--best", "--task", "latent", "--metric", "recon", "--out",
        tmp_path / "t.parquet")
    assert not (tmp_path / "t.parquet").exists()


@pytest.fixture(scope="module")
def committed():
    return results_table.collect([str(ROOT / "results")])


def test_the_committed_results_read_into_one_table(committed):
    runs = committed.drop_duplicates("run")
    for kind in ("run", "study cell", "sweep point", "tune trial", "tune final", "tune default"):
        assert (runs["kind"] == kind).sum() > 0, kind
    assert set(runs[runs["kind"] == "run"]["task"]) == {"latent", "image"}
    assert not committed["value"].isna().any() and committed["seed"].notna().all()
    assert len(runs) == len(run_folders(ROOT / "results"))


def test_best_on_the_committed_reference_agrees_with_its_summary(committed):
    ranked = results_best.best(committed, "latent", epoch=80)
    reference = str(ROOT / "results" / "latent" / "reference")
    mine = ranked[ranked["experiment"] == reference].set_index("method")
    summary = pd.read_csv(ROOT / "results" / "latent" / "reference" / "summary.csv")
    for row in summary.itertuples():
        got = mine.loc[row.method]
        assert got["n"] == row.seeds
        assert math.isclose(got["mean"], row.swd_epoch_80_mean, rel_tol=1e-6)
        assert math.isclose(got["low"], row.swd_epoch_80_low, rel_tol=1e-6)
        assert math.isclose(got["high"], row.swd_epoch_80_high, rel_tol=1e-6)
