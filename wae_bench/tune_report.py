"""A tune's tables and figure, from its folder alone (``wae-bench report`` redraws them).

- trials.csv: one row per trial (method, number, status, validation metric, seconds, values);
- final.csv: the last-epoch metric of the default and the tuned setting on each final seed;
- tune.md: the budget table, default vs tuned with intervals, the verdicts;
- budget.png/.pdf: each method's expected best validation metric after n = 1..N trials.

Expected best after n trials (Dodge et al. 2019, EMNLP), computed exactly from the N trials
rather than by resampling: with the N scores sorted, v_(1) <= ... <= v_(N), the best (lowest)
of n trials drawn from them with replacement is v_(i) with probability
((N - i + 1) / N)^n - ((N - i) / N)^n, which gives its mean and standard deviation. A trial
that diverged or failed counts as the method's worst finished trial: it is part of the
budget and can never look better than a trial that ran.
"""

import json
import math
from pathlib import Path

import numpy as np

from . import folders, intervals, results, tasks

ONE_MINUS = ":1-x"  # suffix of a log1m parameter's name in the study (it holds 1 - x)
BUDGET_MARKS = (1, 5, 10)  # trial counts the table reports besides N
FINAL_ARMS = {"default": "default", "final": "tuned"}  # run folder -> table label


def trial_id(method: str, number: int) -> str:
    """runs/<trial_id>: moca/0007."""
    return f"{method}/{number:04d}"


def trial_score(task, run_dir: Path, outcome: dict) -> float | None:
    """The task's metric at the last epoch of a finished trial; None when it did not finish."""
    path = run_dir / task.result_file
    if outcome.get("status") != "finished" or not path.is_file():
        return None
    value = float(results.read_csv(path).sort_values("epoch").iloc[-1][task.metric])
    return value if math.isfinite(value) else None


def optuna_name(key: str, dim) -> str:
    """The name of a dimension in the study: a log1m one holds 1 - x, and says so."""
    return f"{key}{ONE_MINUS}" if getattr(dim, "scale", "") == "log1m" else key


def trial_values(params: dict) -> dict:
    """A trial's setting from the study's params ({"moca.m:1-x": 0.01} -> {"moca.m": 0.99})."""
    return {
        key.removesuffix(ONE_MINUS): 1 - raw if key.endswith(ONE_MINUS) else raw
        for key, raw in params.items()
    }


def expected_best(scores, n: int) -> tuple[float, float]:
    """Mean and standard deviation of the lowest of n draws, with replacement, from
    ``scores`` (exact, see the module docstring).

    >>> expected_best([3.0, 1.0, 2.0], 1)
    (2.0, 0.816496580927726)
    >>> expected_best([3.0, 1.0, 2.0], 1000)[0]
    1.0
    """
    v = np.sort(np.asarray(scores, dtype=float))
    big_n = len(v)
    above = (big_n - np.arange(big_n + 1)) / big_n  # P(draw ranks > i), i = 0..N
    p = above[:-1] ** n - above[1:] ** n
    mean = float(p @ v)
    return mean, float(math.sqrt(max(p @ v**2 - mean**2, 0.0)))


def collect_trials(out: Path) -> "pd.DataFrame":  # noqa: F821
    """trials.csv's rows from the study file and each trial's status.json."""
    import optuna
    import pandas as pd

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{(out / 'study.db').resolve()}"
    saved = folders.read_config(out)
    rows = []
    for method in saved["config"]["methods"]:
        study = optuna.load_study(study_name=method, storage=storage)
        for trial in study.get_trials(deepcopy=False):
            run_dir = out / folders.POINTS / trial_id(method, trial.number)
            status = folders.read_status(run_dir)
            if trial.state.name == "FAIL" and not status:
                continue  # cut off while it was asked: it never ran and is not in the budget
            rows.append({
                "method": method, "trial": trial.number,
                "status": status.get("status", trial.state.name.lower()),
                "value": trial.value if trial.value is not None else math.nan,
                "seconds": status.get("seconds", math.nan),
                "setting": json.dumps(trial_values(trial.params), sort_keys=True),
            })  # fmt: skip
    return pd.DataFrame(rows)


def collect_finals(out: Path, task) -> "pd.DataFrame":  # noqa: F821
    """final.csv: method, arm (default or tuned), seed, the metric at the last epoch."""
    import pandas as pd

    rows = []
    methods = folders.read_config(out)["config"]["methods"]
    for method in methods:
        for folder, arm in FINAL_ARMS.items():
            path = out / folders.POINTS / folder / method / task.result_file
            if not path.is_file():
                continue
            frame = results.read_csv(path)
            last = frame[frame["epoch"] == frame["epoch"].max()]
            for _, row in last.iterrows():
                rows.append({"method": method, "arm": arm, "seed": int(row["seed"]),
                             task.metric: row[task.metric]})  # fmt: skip
    return pd.DataFrame(rows, columns=["method", "arm", "seed", task.metric])


def best_settings(trials) -> dict[str, str]:
    """Per method, the setting (JSON) of its best finished trial: what the tuned arm trains."""
    done = trials[(trials["status"] == "finished") & np.isfinite(trials["value"])]
    return {m: rows.loc[rows["value"].idxmin(), "setting"]
            for m, rows in done.groupby("method", sort=False)}  # fmt: skip


def scored(trials) -> dict[str, np.ndarray]:
    """Per method, every counted trial's score, a failed one as the worst finished one."""
    table = {}
    for method, rows in trials.groupby("method", sort=False):
        counted = rows[rows["status"].isin(("finished", "diverged", "failed"))]
        values = counted["value"].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        worst = finite.max() if finite.size else math.nan
        table[method] = np.where(np.isfinite(values), values, worst)
    return table


def report(out: Path) -> None:
    """(Re)write trials.csv, final.csv, tune.md and budget.png/.pdf of the tune in ``out``."""
    out = Path(out)
    saved = folders.read_config(out)
    task = tasks.get(saved["task"])
    trials, finals = collect_trials(out), collect_finals(out, task)
    results.write_csv(out / "trials.csv", trials)
    results.write_csv(out / "final.csv", finals)
    scores = scored(trials)
    results.write_text(out / "tune.md", markdown(saved, task, trials, finals, scores))
    from . import plots

    plots.budget_curves({m: [expected_best(v, n) for n in range(1, len(v) + 1)]
                         for m, v in scores.items() if len(v)},
                        task.label(), out / "budget")  # fmt: skip


def markdown(saved: dict, task, trials, finals, scores: dict) -> str:
    """tune.md: settings, budget table, default vs tuned, verdicts."""
    tune, cfg = saved["tune"], saved["config"]
    label = task.label()
    seeds = tune["final_seeds"]
    lines = [
        f"# Tuning the {task.name} task: {tune['trials']} trials per method",
        "",
        f"Every method gets the same budget: {tune['trials']} trials (Optuna TPE, the first "
        f"{tune['startup_trials']} random), each a run of {cfg['epochs']} epochs on the tuning "
        f"seed {tune['tuning_seed']}, scored by {label} at its last epoch"
        + (" with " + ", ".join(f"{k} = {v}" for k, v in tune["validation"].items())
           if tune["validation"] else "")
        + ". The best setting and the default are then trained on the final seeds "
        f"{seeds[0]}..{seeds[-1]}, which no trial saw. Lower is better. A failed trial counts "
        "as the method's worst finished one.",
        "",
        _budget_table(trials, scores),
        "",
        f"## Default vs tuned on the final seeds ({label}, last epoch)",
        "",
        intervals.legend(),
        "",
        *_final_table(finals, task, seeds, best_settings(trials), label),
    ]
    return "\n".join(lines) + "\n"


def _budget_table(trials, scores: dict) -> str:
    header = ["method", "trials: finished / diverged / failed", "seconds (all trials)",
              "best validation"]  # fmt: skip
    n_max = max((len(v) for v in scores.values()), default=0)
    marks = [n for n in BUDGET_MARKS if n < n_max] + [n_max]
    header += [f"expected best after {n}" for n in marks]
    lines = [results.markdown_row(header), "|" + "---|" * len(header)]
    for method, rows in trials.groupby("method", sort=False):
        counts = [int((rows["status"] == s).sum()) for s in ("finished", "diverged", "failed")]
        values = scores[method]
        cells = [method, " / ".join(map(str, counts)), f"{rows['seconds'].sum():.0f}",
                 f"{np.nanmin(values):.4g}" if np.isfinite(values).any() else "-"]  # fmt: skip
        for n in marks:
            mean, std = expected_best(values, n) if len(values) else (math.nan, math.nan)
            cells.append(f"{mean:.4g} ± {std:.2g}" if math.isfinite(mean) else "-")
        lines.append(results.markdown_row(cells))
    return "\n".join(lines)


def _final_table(finals, task, seeds: list[int], best: dict[str, str], label: str) -> list[str]:
    if finals.empty:
        return ["No final run has finished yet."]
    metric = task.metric
    by = {(m, a): rows.set_index("seed")[metric].reindex(seeds).to_numpy(dtype=float)
          for (m, a), rows in finals.groupby(["method", "arm"], sort=False)}  # fmt: skip
    methods = list(dict.fromkeys(finals["method"]))
    header = ["method", "default", "tuned", "tuned - default", "P(tuned < default)",
              "tuned setting"]  # fmt: skip
    lines = [results.markdown_row(header), "|" + "---|" * len(header)]
    for method in methods:
        default, tuned = by.get((method, "default")), by.get((method, "tuned"))
        cells = [method]
        for values in (default, tuned):
            cells.append("-" if values is None else
                         intervals.format_interval(*intervals.mean_interval(values, seed=0)))
        if default is not None and tuned is not None:
            cells.append(intervals.format_interval(*intervals.paired_difference(tuned, default,
                                                                                 seed=0)))
            cells.append(f"{intervals.probability_of_improvement(tuned, default):.2f}")
        else:
            cells += ["-", "-"]
        cells.append(_setting_text(best[method]) if method in best else "no trial finished")
        lines.append(results.markdown_row(cells))
    tuned = {m: by[(m, "tuned")] for m in methods if (m, "tuned") in by}
    lines += ["", "Verdicts (tuned methods against the best tuned one, paired by final seed):", ""]
    if len(tuned) > 1:
        _, verdicts = intervals.compare_to_best(tuned, seed=0, metric_label=label,
                                               where="at the last epoch")
        lines += [f"- {v}" for v in verdicts]
    else:
        lines.append("- fewer than two tuned methods: nothing to compare")
    return lines


def _setting_text(text: str) -> str:
    setting = json.loads(text)
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in setting.items())  # fmt: skip
