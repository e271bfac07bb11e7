"""A tune's tables and figure, from its folder alone (``wae-bench report`` redraws them).

- trials.csv: one row per trial (method, number, default or not, status, validation metric,
  seconds, setting);
- confirm.csv: the confirmed candidates of each method on every tuning seed, their mean and
  the winner;
- final.csv: the last-epoch metric of the default and the tuned setting on each final seed;
- tune.md: the budget table, the confirmation, settings on a range's edge, default vs tuned
  with intervals, the verdicts;
- budget.png/.pdf: the best validation metric each study had reached after n trials.

Best after n trials is what the study actually reached: the lowest score among its first n
trials in the order they ran. Dodge et al.'s (2019, EMNLP) expected best of n trials assumes
independent random draws, so it is shown only for ``--sampler random`` studies, over their
random trials (the default trial is not a draw). Computed exactly rather than by resampling:
with the N scores sorted, v_(1) <= ... <= v_(N), the best (lowest) of n trials drawn from them
with replacement is v_(i) with probability ((N - i + 1) / N)^n - ((N - i) / N)^n. A trial that
diverged or failed counts as the method's worst finished trial: it is part of the budget and
can never look better than a trial that ran.
"""

import json
import math
from pathlib import Path

import numpy as np

from regularizers import search

from . import execution, folders, intervals, run_files, summary, table_rows, table_text, tasks
from .errors import UsageError

ONE_MINUS = ":1-x"  # suffix of a log1m parameter's name in the study (it holds 1 - x)
DEFAULT_MARK = "default"  # user attribute of the trial that runs the method's default setting
BUDGET_MARKS = (1, 5, 10)  # trial counts the table reports besides N
FINAL_ARMS = {"default": "default", "final": "tuned"}  # run folder -> table label


def trial_id(method: str, number: int) -> str:
    """runs/<trial_id>: moca/0007."""
    return f"{method}/{number:04d}"


def confirm_id(method: str, number: int) -> str:
    """runs/<confirm_id>: confirm/moca/0007, trial 7 on the confirmation seeds."""
    return f"confirm/{trial_id(method, number)}"


def trial_score(task, run_dir: Path, outcome: dict) -> float | None:
    """The task's metric at the last epoch of a finished trial; None when it did not finish."""
    if outcome.get("status") != "finished" or not (run_dir / task.results.file).is_file():
        return None
    frame = table_rows.read_wide(run_dir, task.results.file, (task.results.metric,))
    value = float(frame.sort_values("epoch").iloc[-1][task.results.metric])
    return value if math.isfinite(value) else None


def _last_epoch(task, run_dir: Path) -> dict[int, float]:
    """{seed: the task's metric at the last epoch} of a run folder's result file."""
    frame = table_rows.read_wide(run_dir, task.results.file, (task.results.metric,))
    last = frame[frame["epoch"] == frame["epoch"].max()]
    return {int(r["seed"]): float(r[task.results.metric]) for _, r in last.iterrows()}


def last_epoch_by_seed(task, run_dir: Path) -> dict[int, float]:
    """{seed: the task's metric at the last epoch} of a finished run folder ({} otherwise)."""
    finished = folders.read_status(run_dir).get("status") == "finished"
    if not finished or not (run_dir / task.results.file).is_file():
        return {}
    return _last_epoch(task, run_dir)


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


def best_so_far(scores) -> np.ndarray:
    """The lowest score among the first n, n = 1..N (NaN until a score is finite).

    >>> best_so_far([3.0, float("nan"), 1.0, 2.0]).tolist()
    [3.0, 3.0, 1.0, 1.0]
    """
    scores = np.asarray(scores, dtype=float)
    return np.fmin.accumulate(np.where(np.isfinite(scores), scores, np.nan))


def _open_studies(out: Path, methods: list[str]) -> dict:
    """{method: its Optuna study} from the tune's study file (checked first: ``folders``)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = folders.study_url(out)
    if not (out / folders.STUDY).is_file():
        raise UsageError(f"{out} has no {folders.STUDY}: it is not a tune's folder (or the tune "
                         "never started); pass the folder a `wae-bench tune` wrote")  # fmt: skip
    try:
        return {m: optuna.load_study(study_name=m, storage=url) for m in methods}
    except KeyError as err:
        raise UsageError(f"{out / folders.STUDY} holds no study {err}; restore the file from a "
                         "copy, or start the tune again with a new --out") from None


def collect_trials(out: Path) -> "pd.DataFrame":  # noqa: F821
    """trials.csv's rows from the study file and each trial's status.json."""
    import pandas as pd

    saved = folders.read_config(out)
    rows = []
    for method, study in _open_studies(out, saved["config"]["methods"]).items():
        for trial in study.get_trials(deepcopy=False):
            run_dir = out / folders.POINTS / trial_id(method, trial.number)
            status = folders.read_status(run_dir)
            if trial.state.name == "FAIL" and not status:
                continue  # cut off while it was asked: it never ran and is not in the budget
            rows.append({
                "method": method, "trial": trial.number,
                "default": bool(trial.user_attrs.get(DEFAULT_MARK, False)),
                "status": status.get("status", trial.state.name.lower()),
                "value": trial.value if trial.value is not None else math.nan,
                "seconds": status.get("seconds", math.nan),
                "setting": json.dumps(trial_values(trial.params), sort_keys=True),
            })  # fmt: skip
    columns = ["method", "trial", "default", "status", "value", "seconds", "setting"]
    return pd.DataFrame(rows, columns=columns)


def candidates(rows, top: int):
    """A method's trials to confirm: its ``top`` best finished trials and its default."""
    done = rows[(rows["status"] == "finished") & np.isfinite(rows["value"])]
    best = done.sort_values(["value", "trial"]).head(top)
    return done[done["trial"].isin(best["trial"]) | done["default"]]


def collect_confirmations(out: Path, task, trials) -> "pd.DataFrame":  # noqa: F821
    """confirm.csv: per method and candidate, its score on every tuning seed, their mean
    (NaN unless every seed finished) and whether it won (lowest mean; without any confirmed
    candidate, the best trial on the tuning seed)."""
    import pandas as pd

    tune = folders.read_config(out)["tune"]
    seeds = [tune["tuning_seed"], *tune.get("confirm_seeds", [])]
    top = tune.get("confirm_top", 1)
    rows = []
    for method, part in trials.groupby("method", sort=False):
        found = []
        for _, trial in candidates(part, top).iterrows():
            again = last_epoch_by_seed(task, out / folders.POINTS /
                                       confirm_id(method, int(trial["trial"])))  # fmt: skip
            values = {seeds[0]: trial["value"]} | {s: again.get(s, math.nan) for s in seeds[1:]}
            found.append({"method": method, "trial": int(trial["trial"]),
                          "default": bool(trial["default"]), "setting": trial["setting"],
                          **{f"seed_{s}": v for s, v in values.items()},
                          "mean": float(np.mean(list(values.values())))})  # fmt: skip
        if not found:
            continue
        means = np.array([f["mean"] for f in found])
        first = np.array([f[f"seed_{seeds[0]}"] for f in found])  # finite: candidates finished
        pick = int(np.nanargmin(means)) if np.isfinite(means).any() else int(np.argmin(first))
        for i, row in enumerate(found):
            rows.append(row | {"winner": i == pick})
    columns = ["method", "trial", "default", "setting", *(f"seed_{s}" for s in seeds), "mean",
               "winner"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def winners(out: Path, task) -> dict[str, str]:
    """Per method, the setting (JSON; "{}" = the default) the tuned arm trains."""
    confirmed = collect_confirmations(out, task, collect_trials(out))
    return dict(confirmed.loc[confirmed["winner"], ["method", "setting"]].itertuples(index=False))


def collect_finals(out: Path, task) -> "pd.DataFrame":  # noqa: F821
    """final.csv: method, arm (default or tuned), seed, the metric at the last epoch."""
    import pandas as pd

    rows = []
    methods = folders.read_config(out)["config"]["methods"]
    for method in methods:
        for folder, arm in FINAL_ARMS.items():
            run_dir = out / folders.POINTS / folder / method
            if not (run_dir / task.results.file).is_file():
                continue
            rows += [{"method": method, "arm": arm, "seed": seed, task.results.metric: value}
                     for seed, value in _last_epoch(task, run_dir).items()]  # fmt: skip
    return pd.DataFrame(rows, columns=["method", "arm", "seed", task.results.metric])


def _counted(trials):
    """(method, its trials of the budget: finished, diverged or failed) in trial order."""
    for method, rows in trials.sort_values("trial").groupby("method", sort=False):
        yield method, rows[rows["status"].isin(("finished", "diverged", "failed"))]


def scored(trials) -> dict[str, np.ndarray]:
    """Per method, every counted trial's score in trial order, a failed one as the worst
    finished one."""
    table = {}
    for method, counted in _counted(trials):
        values = counted["value"].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        worst = finite.max() if finite.size else math.nan
        table[method] = np.where(np.isfinite(values), values, worst)
    return table


def _random_draws(trials, scores: dict) -> dict[str, np.ndarray]:
    """Per method, the scores of its random trials (the default trial left out)."""
    return {method: scores[method][~counted["default"].to_numpy(dtype=bool)]
            for method, counted in _counted(trials)}


def _spaces(saved: dict) -> dict[str, dict]:
    """The tune's resolved search spaces as dimensions ({} for a folder that recorded none)."""
    spaces = {}
    for method, space in saved["tune"].get("spaces", {}).items():
        if all(isinstance(spec, dict) for spec in space.values()):
            spaces[method] = {k: search.parse(k, spec) for k, spec in space.items()}
    return spaces


def edges(saved: dict, confirmed, task=None) -> list[str]:
    """One sentence per winning value in the outer 5% of its range (on the range's scale):
    why that bound is a real limit where the space says so, else a warning.

    A bound's reason comes from its current definition (the ``task``'s knobs and each
    method's declared space, resolved for the task's default prior) when the study recorded
    the same bounds without one (reasons are prose, not settings). When the winner's
    penalty weight (``Tuning.penalty_knob``) lies on its low edge, the penalty is all but
    off, so the method's own values on an edge are said to be unidentified rather than cut off.
    """
    spaces, lines = _spaces(saved), []
    weight = task.tuning.penalty_knob if task is not None else ""
    for _, row in confirmed[confirmed["winner"]].iterrows():
        setting, dims = json.loads(row["setting"]), spaces.get(row["method"], {})
        current = _declared(task, row["method"]) if task is not None else {}
        off = weight in dims and weight in setting and dims[weight].edge(setting[weight]) == "low"
        for key, value in setting.items():
            dim = dims.get(key)
            side = dim.edge(value) if dim is not None else ""
            if not side:
                continue
            where = (f"{row['method']}: {key} = {value:.4g} lies on the {side} edge of its range "
                     f"{dim.describe()} (outer {search.EDGE:.0%} on its scale)")  # fmt: skip
            why = getattr(dim, f"{side}_limit")
            now = current.get(key)
            if not why and now is not None and (now.low, now.high) == (dim.low, dim.high):
                why = getattr(now, f"{side}_limit")
            if why:
                lines.append(f"{where}, a real limit: {why}")
            elif off and key != weight:
                lines.append(f"{where}: not identified, since the winner's {weight} lies at its "
                             "low edge, where the penalty is all but off")  # fmt: skip
            else:
                lines.append(f"{where}: the optimum may lie outside it")
    return lines


def _declared(task, method: str) -> dict:
    """The method's declared space and the task's knobs as they are defined now, resolved for
    the task's default prior ({} for a method no longer registered)."""
    import regularizers

    cfg = task.config()
    prior = task.prior(cfg)
    try:
        declared = regularizers.get(method).search_space
    except ValueError:  # no longer registered
        declared = {}
    space = {f"{method}.{name}": dim for name, dim in declared.items()}
    return {key: dim.resolve(prior) for key, dim in (space | task.tuning.knobs(cfg)).items()}


def report(out: Path) -> None:
    """(Re)write trials.csv, confirm.csv, final.csv, tune.md and budget.png/.pdf of the tune
    in ``out``; a damaged study file is a one-line error before anything is written."""
    out = Path(out)
    saved = folders.read_config(out)
    task = tasks.get(saved["task"])
    trials = collect_trials(out)
    confirmed = collect_confirmations(out, task, trials)
    finals = collect_finals(out, task)
    run_files.write_csv(out / "trials.csv", trials)
    run_files.write_csv(out / "confirm.csv", confirmed)
    run_files.write_csv(out / "final.csv", finals)
    scores = scored(trials)
    random = saved["tune"].get("sampler") == "random"
    draws = _random_draws(trials, scores) if random else {}
    run_files.write_text(out / "tune.md", markdown(saved, task, trials, confirmed, finals, scores,
                                                 draws))  # fmt: skip
    from . import plots

    expected = {m: [expected_best(v, n) for n in range(1, len(v) + 1)]
                for m, v in draws.items() if len(v)}  # fmt: skip
    plots.budget_curves({m: best_so_far(v).tolist() for m, v in scores.items() if len(v)},
                        task.results.label.split(" (")[0], out / "budget",
                        expected or None)  # fmt: skip


def markdown(saved: dict, task, trials, confirmed, finals, scores: dict, draws: dict) -> str:
    """tune.md: settings, budget table, confirmation, range edges, default vs tuned,
    verdicts."""
    tune, cfg = saved["tune"], saved["config"]
    label = task.results.label
    seeds = tune["final_seeds"]
    sampler = tune.get("sampler", "TPE")
    how = ("independent random draws" if sampler == "random" else
           f"Optuna TPE (its first {tune.get('startup_trials', 1) - 1} proposals random)")
    validation = tune["validation"]
    confirm = tune.get("confirm_seeds", [])
    lines = [
        f"# Tuning the {task.name} task: {tune['trials']} trials per method",
        "",
        f"Every method gets the same budget: {tune['trials']} trials, the first its default "
        f"setting, then {how}; each a run of {cfg['epochs']} epochs on the tuning seed "
        f"{tune['tuning_seed']}, scored by {label} at its last epoch"
        + (" on a validation split of the training images (" + ", ".join(
            f"{k} = {v}" for k, v in validation.items()) + "; the model trains on the rest)"
           if validation else "")
        + (f". The {tune.get('confirm_top')} best trials and the default then run again on the "
           f"tuning seeds {', '.join(map(str, confirm))}; the winner has the lowest mean over "
           "the three tuning seeds" if confirm else "")
        + ". The winner and the default are then trained on the final seeds "
        f"{seeds[0]}..{seeds[-1]}, which no trial saw, and evaluated as the task's command does."
        " Lower is better. A failed trial counts as the method's worst "
        "finished one.",
        "",
        _budget_table(trials, scores, draws),
        "",
        *_untunable(saved),
        "## Confirmation on more tuning seeds",
        "",
        *_confirm_table(confirmed),
        "",
        "Range edges: " + ("; ".join(edges(saved, confirmed, task)) or
                           "no winning value lies in the outer 5% of its range."),
        "",
        f"## Default vs tuned on the final seeds ({label}, last epoch)",
        "",
        *_final_table(finals, task, seeds, confirmed, label,
                      execution.recorded_baseline(saved) or ""),
    ]
    return "\n".join(lines) + "\n"


def _budget_table(trials, scores: dict, draws: dict) -> str:
    header = ["method", "trials: finished / diverged / failed", "seconds (all trials)",
              "default (trial 1)"]  # fmt: skip
    n_max = max((len(v) for v in scores.values()), default=0)
    marks = [n for n in BUDGET_MARKS if n < n_max] + [n_max]
    header += [f"best after {n}" for n in marks]
    if draws:
        header += [f"expected best of {n - 1} random" for n in marks if n > 1]
    lines = [table_text.markdown_row(header), "|" + "---|" * len(header)]
    for method, rows in trials.groupby("method", sort=False):
        counts = [int((rows["status"] == s).sum()) for s in ("finished", "diverged", "failed")]
        values = scores[method]
        first = rows.loc[rows["default"], "value"]
        cells = [method, " / ".join(map(str, counts)), f"{rows['seconds'].sum():.0f}",
                 f"{first.iloc[0]:.4g}" if len(first) and math.isfinite(first.iloc[0]) else "-"]
        reached = best_so_far(values)
        cells += [f"{reached[n - 1]:.4g}" if n <= len(reached) else "-" for n in marks]
        for n in (m - 1 for m in marks if m > 1) if draws else ():
            random = draws.get(method, [])
            mean, std = expected_best(random, n) if len(random) else (math.nan, math.nan)
            cells.append(f"{mean:.4g} ± {std:.2g}" if math.isfinite(mean) else "-")
        lines.append(table_text.markdown_row(cells))
    return "\n".join(lines)


def _untunable(saved: dict) -> list[str]:
    """A line on the methods whose study is their default alone (nothing to tune)."""
    empty = [m for m, space in saved["tune"].get("spaces", {}).items() if not space]
    if not empty:
        return []
    return [f"Nothing to tune for {', '.join(empty)} (no hyper-parameter, or every one fixed "
            "by --set): the study is the default alone, and the tuned arm is the default.", ""]


def _confirm_table(confirmed) -> list[str]:
    if confirmed.empty:
        return ["No trial has been confirmed yet."]
    seed_columns = [c for c in confirmed.columns if c.startswith("seed_")]
    header = ["method", "trial", *(c.replace("_", " ") for c in seed_columns), "mean",
              "winner", "setting"]  # fmt: skip
    lines = [table_text.markdown_row(header), "|" + "---|" * len(header)]
    for _, row in confirmed.iterrows():
        cells = [row["method"], str(row["trial"] + 1)]
        cells += [f"{row[c]:.4g}" if math.isfinite(row[c]) else "-" for c in seed_columns]
        cells += [f"{row['mean']:.4g}" if math.isfinite(row["mean"]) else "-",
                  "**winner**" if row["winner"] else "", setting_text(row["setting"])]
        lines.append(table_text.markdown_row(cells))
    return lines


def _final_table(finals, task, seeds: list[int], confirmed, label: str,
                 saved_baseline: str = "") -> list[str]:  # fmt: skip
    if finals.empty:
        return ["No final run has finished yet."]
    metric = task.results.metric
    by = {(m, a): rows.set_index("seed")[metric].reindex(seeds).to_numpy(dtype=float)
          for (m, a), rows in finals.groupby(["method", "arm"], sort=False)}  # fmt: skip
    methods = list(dict.fromkeys(finals["method"]))
    winning = dict(confirmed.loc[confirmed["winner"], ["method", "setting"]].itertuples(
        index=False))  # fmt: skip
    gains = {m: intervals.paired_test(by[(m, "tuned")], by[(m, "default")]) for m in methods
             if (m, "tuned") in by and (m, "default") in by}  # fmt: skip
    tuned = {m: by[(m, "tuned")] for m in methods if (m, "tuned") in by}
    baseline = saved_baseline if saved_baseline in tuned else None
    reference = baseline or (summary.PAPER_METHOD if summary.PAPER_METHOD in tuned
                             else next(iter(tuned), None))
    versus = {m: intervals.paired_test(values, tuned[reference]) for m, values in tuned.items()
              if m != reference}  # fmt: skip
    tests = [("gain", m, row) for m, row in gains.items()] + [
        ("versus", m, row) for m, row in versus.items()]
    adjusted = intervals.holm([row["p"] for *_, row in tests])
    judged = {(kind, m): row | {"p_adj": p}
              for (kind, m, row), p in zip(tests, adjusted, strict=True)}  # fmt: skip
    header = ["method", "default", "tuned", "tuned - default", "Holm-adjusted p",
              "tuned setting"]  # fmt: skip
    lines = [intervals.legend(len(seeds), int(np.isfinite(adjusted).sum())), "",
             table_text.markdown_row(header), "|" + "---|" * len(header)]  # fmt: skip
    worse = [f"- **{arm} {method} diverged or did not finish on {missing} of {len(seeds)} "
             "final seeds**: its comparisons use the others"
             for (method, arm), values in by.items()
             if (missing := int(np.sum(~np.isfinite(values))))]  # fmt: skip
    for method in methods:
        cells = [method]
        for arm in ("default", "tuned"):
            values = by.get((method, arm))
            cells.append("-" if values is None else
                         intervals.format_interval(*intervals.mean_interval(values)))
        row = judged.get(("gain", method))
        if row is not None:
            p = intervals.format_p(row["p_adj"]).split(" ", 1)[1].removeprefix("= ")
            cells += [intervals.format_interval(row["diff"], row["diff_low"], row["diff_high"]), p]
            if row["diff"] > 0:
                higher = int(np.sum(by[(method, "tuned")] > by[(method, "default")]))
                worse.append(f"- **tuned {method} is worse than its default** on the final "
                             f"seeds (mean {row['diff']:+.4g}; higher on {higher} of "
                             f"{row['pairs']} seeds): its confirmed setting did not carry over "
                             "from the tuning seeds")  # fmt: skip
        else:
            cells += ["-", "-"]
        cells.append(setting_text(winning[method]) if method in winning else "no trial finished")
        lines.append(table_text.markdown_row(cells))
    lines += ["", *(worse or ["Every tuned setting is at least as good as its default on "
                              "average over the final seeds, and every final run finished."])]
    lines += ["", f"Verdicts (tuned against default, and every tuned method against tuned "
              f"{reference}, paired by final seed, one family):", ""]
    verdicts = [intervals.verdict(f"tuned {m}", f"default {m}", judged[("gain", m)],
                                  head=f"{label} at the last epoch", seeds=len(seeds))
                for m in gains]  # fmt: skip
    verdicts += [intervals.verdict(m, reference, judged[("versus", m)], seeds=len(seeds),
                                   head=f"{label} at the last epoch, tuned") for m in versus]
    lines += [f"- {v}" for v in verdicts] or ["- nothing to compare"]
    return lines


def setting_text(text: str) -> str:
    """'K=1024, m=0.99' from a setting's JSON; 'default' for the default setting."""
    setting = json.loads(text)
    if not setting:
        return "default"
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in setting.items())  # fmt: skip
