"""What tuning adds to its training runs (the target: a tune of one method costs at
most 1.1x the sum of its trials' training runs).

One method, a few trials of the default latent task shortened to 20 epochs, then the final
runs: the tune's wall time against the sum of the wall times of every run it trained
(trials and final runs, each measured around the run itself in status.json), so the ratio
is what Optuna, its SQLite study, the rounds and the report cost on top. extra_info holds
both figures and the ratio; `wae-bench timing` lists it with the other targets.
"""

import json

from wae_bench import tasks, tune
from wae_bench.config import build

TRIALS = 6
SETTINGS = {"methods": ["moca"], "epochs": 20, "quiet": True}


def test_tune_of_one_method_vs_its_training_runs(benchmark, tmp_path):
    benchmark.group = "tune overhead (moca, 6 trials, latent 20 epochs)"
    task = tasks.get("latent")
    outs = []

    def next_round():  # a fresh folder each round
        out = tmp_path / f"tune{len(outs)}"
        outs.append(out)
        return (task, build(task.config, {}, {**SETTINGS, "out": str(out)})), {
            "trials": TRIALS, "final_seeds": 1}

    benchmark.pedantic(tune.run, setup=next_round, rounds=1, iterations=1)
    runs_s = sum(json.loads(p.read_text())["seconds"]
                 for p in outs[0].glob("runs/**/status.json"))  # fmt: skip
    tune_s = benchmark.stats.stats.median  # one round: the tune whose runs were summed
    benchmark.extra_info.update(role="tune_overhead", runs_s=runs_s, tune_s=tune_s,
                                ratio=tune_s / runs_s)  # fmt: skip
