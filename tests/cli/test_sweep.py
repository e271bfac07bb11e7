import json

import pandas as pd
import pytest

import regularizers
from wae_bench import sweep, tasks
from wae_bench.cli import main
from wae_bench.errors import UsageError

from tests.conftest import registered

TINY = {"epochs": 2, "eval_every": 1, "eval_samples": 64, "latent_dim": 8}


def spec(grid, task="image", settings=None):
    return {"task": task, "settings": {**TINY, **(settings or {})}, "grid": grid, "name": "t"}


def test_grid_expands_per_method_parameter_and_seed():
    runs = sweep.expand(spec({"methods": ["moca", "mmd"], "lambdas": [1.0, 10.0], "seeds": [0, 1],
                              "moca.tau": [0.1, 0.5]}))  # fmt: skip
    assert len(runs) == 2 * 2 * 2 + 2 * 2  # moca: tau x lam x seed; mmd: lam x seed
    ids = [r["id"] for r in runs]
    assert len(set(ids)) == len(ids)
    moca = [r for r in runs if r["method"] == "moca"]
    assert {r["settings"]["params"]["moca"]["tau"] for r in moca} == {0.1, 0.5}
    assert all(r["settings"]["seeds"] == [r["seed"]] for r in runs)
    assert sweep.expand(spec({"methods": ["mmd"]}))[0]["id"] == \
        sweep.expand(spec({"methods": ["mmd"]}))[0]["id"]  # fmt: skip


def test_presets_follow_the_spec_values():
    assert sweep.preset("momentum")["grid"]["moca.m"] == [0.0, 0.9, 0.99, 0.999]
    assert len(sweep.expand(sweep.preset("tau"))) == 6 * 3
    assert {r["method"] for r in sweep.expand(sweep.preset("lambda"))} == {"moca", "mmd"}


def test_sweep_writes_table_and_figure_then_skips_finished_runs(tmp_path):
    s = spec({"methods": ["moca"], "lambdas": [10.0], "seeds": [0, 1], "moca.tau": [0.1, 0.5]})
    sweep.run(s, tmp_path, jobs=1, quiet=True)
    table = pd.read_csv(tmp_path / "sweep.csv")
    assert len(table) == 4 and (table["status"] == "finished").all()
    assert table["image_swd"].notna().all() and set(table["moca.tau"]) == {0.1, 0.5}
    assert (tmp_path / "sweep_moca_tau.png").stat().st_size > 0
    assert "| moca | 0.1 |" in (tmp_path / "sweep.md").read_text()
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/metrics.csv")}
    sweep.run(s, tmp_path, jobs=1, quiet=True)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/metrics.csv")} == stamps
    # a point trained under an older id rule keeps its folder: sweep.json says which it is
    record = json.loads((tmp_path / "sweep.json").read_text())
    (tmp_path / "runs" / record["runs"][0]).rename(tmp_path / "runs" / "an-older-id")
    record["runs"][0] = "an-older-id"
    (tmp_path / "sweep.json").write_text(json.dumps(record))
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/metrics.csv")}
    sweep.run(s, tmp_path, jobs=1, quiet=True)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/metrics.csv")} == stamps
    assert json.loads((tmp_path / "sweep.json").read_text())["runs"] == record["runs"]
    # a finished folder that measured something else (a default changed since) is refused
    kept = tmp_path / "runs" / "an-older-id" / "config.json"
    changed = json.loads(kept.read_text())
    changed["config"]["epochs"] = 3
    kept.write_text(json.dumps(changed))
    with pytest.raises(UsageError, match=r"an-older-id was trained with other settings \(epochs"):
        sweep.run(s, tmp_path, jobs=1, quiet=True)


def test_unfinished_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    s = spec({"methods": ["moca"], "lambdas": [10.0], "seeds": [0]}, settings={"epochs": 4})
    straight = tmp_path / "straight"
    sweep.run(s, straight, jobs=1, quiet=True)
    import wae_bench.data

    real, calls = wae_bench.data.batches, {"n": 0}

    def stop_in_epoch_3(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("node lost")
        return real(*args, **kwargs)

    monkeypatch.setattr(wae_bench.data, "batches", stop_in_epoch_3)
    sweep.run(s, tmp_path / "broken", jobs=1, quiet=True)
    first = pd.read_csv(tmp_path / "broken" / "sweep.csv")
    assert first["status"].tolist() == ["failed"] and "node lost" in first["message"][0]
    monkeypatch.undo()
    sweep.run(s, tmp_path / "broken", jobs=1, quiet=True)
    a, b = (
        pd.read_csv(next((tmp_path / n).glob("runs/*/metrics.csv"))) for n in ("straight", "broken")
    )
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))


class Exploding(regularizers.Regularizer):
    name = "exploding"

    def forward(self, z, x):
        return z.sum() * float("nan")


class Raising(regularizers.Regularizer):
    name = "raising"

    def forward(self, z, x):
        raise RuntimeError("bug in a third-party method")


def test_diverged_and_failed_runs_are_recorded_and_the_sweep_goes_on(tmp_path):
    with registered(Exploding, Raising):
        s = spec({"methods": ["exploding", "raising", "mmd"], "seeds": [0]}, task="latent",
                 settings={"points": 64, "batch_size": 16, "epochs": 2, "eval_directions": 20,
                           "hidden_dim": 16, "data_dim": 6})  # fmt: skip
        s["settings"].pop("eval_every"), s["settings"].pop("eval_samples")
        sweep.run(s, tmp_path, jobs=1, quiet=True)
    table = pd.read_csv(tmp_path / "sweep.csv").set_index("method")
    assert table.loc["exploding", "status"] == "diverged"
    assert "loss became nan in epoch 1" in table.loc["exploding", "message"]
    assert table.loc["raising", "status"] == "failed"
    assert table.loc["raising", "message"] == "RuntimeError: bug in a third-party method"
    assert table.loc["mmd", "status"] == "finished" and table.loc["mmd", "swd"] > 0
    assert (tmp_path / "runs" / table.loc["raising", "id"] / "traceback.txt").exists()


def test_processes_and_ray_give_the_same_table(tmp_path):
    pytest.importorskip("ray")
    import ray

    s = spec({"methods": ["mmd"], "lambdas": [1.0, 10.0], "seeds": [0]})
    sweep.run(s, tmp_path / "local", jobs=1, quiet=True)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        sweep.run(s, tmp_path / "ray", executor="ray", quiet=True)
    finally:
        ray.shutdown()
    a, b = (
        pd.read_csv(tmp_path / n / "sweep.csv").drop(columns="seconds") for n in ("local", "ray")
    )
    pd.testing.assert_frame_equal(a, b)


def test_sweep_cli_with_a_yaml_file(tmp_path, capsys):
    pytest.importorskip("yaml")
    file = tmp_path / "grid.yaml"
    file.write_text("task: latent\nsettings: {points: 64, batch_size: 16, epochs: 1, "
                    "eval_directions: 20}\ngrid: {methods: [swd], seeds: [0, 1]}\n")  # fmt: skip
    assert main(["sweep", str(file), "--out", str(tmp_path / "out"), "--quiet", "--jobs", "1"]) == 0
    assert "| swd |" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "out" / "sweep.csv")) == 2


@pytest.mark.parametrize("setting", ["overwrite", "jobs", "out", "tensorboard", "quiet"])
def test_a_sweep_refuses_settings_each_point_decides_itself(setting):
    value = {"overwrite": True, "jobs": 2, "out": "x", "tensorboard": "tb", "quiet": True}
    with pytest.raises(UsageError, match=f"{setting} cannot be a sweep setting"):
        sweep.expand(spec({"methods": ["mmd"]}, settings={setting: value[setting]}))


def test_how_a_point_runs_stays_out_of_its_id():
    grid = {"methods": ["mmd"], "lambdas": [1.0]}
    plain, on_cpu = sweep.expand(spec(grid)), sweep.expand(spec(grid, settings={"device": "cpu"}))
    assert [p["id"] for p in plain] == [p["id"] for p in on_cpu]
    assert on_cpu[0]["execution"] == {"device": "cpu"} and "device" not in on_cpu[0]["settings"]
    wider = sweep.expand(spec(grid, settings={"epochs": 3}))
    assert wider[0]["id"] != plain[0]["id"]  # what it measures is in the id
    as_int = sweep.expand(spec({"methods": ["mmd"], "lambdas": [1]}))
    assert as_int[0]["id"] == plain[0]["id"]  # lam 1 is lam 1.0
    cfg = tasks.get("image").config(methods=["mmd"]).validate()
    assert cfg.identity() == {"methods": ["mmd"]}  # its default lam grid counts as default
