"""`wae-bench tune TASK`: every method gets the same number of trials, scored on validation
data, and its best setting is retrained on fresh seeds (Lucic et al. 2018, NeurIPS).

For each method an Optuna study samples the method's declared space
(``Regularizer.search_space``, scale-like ranges resolved against the task's prior) and the
task's own knobs (``Tuning.knobs``: the image task's lam and lr). Its first trial is the
method's default setting; then TPE (its first ``STARTUP_TRIALS`` trials random) or, with
``--sampler random``, independent random draws. A trial is one ordinary run of the task on the
tuning seed ``TUNING_SEED`` (its own data, prior samples and directions), scored by the task's
metric at its last epoch on validation data the final comparison never sees (the image task
trains on the training images less a validation split and is scored on that split,
``Tuning.validation``).

One seed's score favours lucky settings (the winner's curse), so before a winner is named the
``CONFIRM_TOP`` best trials and the default are run again on the tuning seeds
``CONFIRM_SEEDS``; the winner has the lowest mean over the three tuning seeds. The winner and
the untuned default are then trained on the final seeds 0..F-1 and evaluated exactly as the
task's command does.

The folder::

    config.json                 the settings, the tuning seeds and split, the spaces
    study.db                    the Optuna studies (SQLite, one study per method)
    runs/<method>/<trial>/      each trial's run folder (status.json, the result file)
    runs/confirm/<method>/<trial>/   a confirmed trial on the confirmation seeds
    runs/final/<method>/        the winner on the final seeds
    runs/default/<method>/      the untuned default on the final seeds
    trials.csv, confirm.csv, final.csv, tune.md, budget.png/.pdf    (tune_report.py)

Trials are asked in rounds: a round asks every method for min(jobs, missing) trials before
any is told, and each ask seeds the sampler with (method, number of whole trials asked so
far); so the same settings and ``--jobs`` give the same trials whether or not the tune was
interrupted. TPE models the sampled trials: the default trial has no parameter values of its
own (some defaults are derived when the method is bound), so it counts among TPE's startup
trials but not in its model. A trial cut short
resumes from its checkpoint; a finished trial never runs again.
"""

import json
import shutil
import time
import zlib
from pathlib import Path

from tqdm.auto import tqdm

import regularizers
from regularizers import search

from . import config as config_io
from . import environment, folders, points, run_files, tune_report
from .command import choose_device
from .errors import UsageError
from .execution import Execution
from .lock import RunLock
from .run import check_runnable
from .tasks import Task

TUNING_SEED = 10_000  # trials train and validate on this seed; final seeds are 0..F-1
CONFIRM_SEEDS = (10_001, 10_002)  # the best trials run again on these before a winner is named
CONFIRM_TOP = 3  # how many of the best trials are confirmed (the default always is)
STARTUP_TRIALS = 8  # the default and random trials before TPE models the results
SAMPLERS = ("tpe", "random")


def search_spaces(task: Task, cfg, space_file: str | None = None) -> dict[str, dict]:
    """{method: {"METHOD.PARAM" or knob: Range | Choice}}: each method's declared space and
    the task's knobs, narrowed or replaced by the space file, every range resolved against the
    task's prior (``Range.per``); ``--set`` fixes a parameter. A method with nothing to tune
    (no hyper-parameter, or all fixed) has an empty space: its study is its default alone."""
    overrides = _load_space_file(space_file, cfg.methods) if space_file else {}
    prior = task.prior(cfg)
    spaces = {}
    for method in cfg.methods:
        knobs = task.tuning.knobs(cfg)
        declared = regularizers.get(method).search_space
        space = {f"{method}.{n}": d for n, d in declared.items()} | knobs
        entries = dict(overrides.get(method, {}))
        if entries.pop("replace", False):
            space = {}
        for name, spec in entries.items():
            key = name if name in knobs else f"{method}.{name}"
            _check_tunable(task, cfg, method, name, knobs)
            try:
                space[key] = search.parse(key, spec)
            except ValueError as err:
                raise UsageError(f"space file {space_file}: {err}") from None
            _check_kind(method, name, space[key], space_file)
        for fixed in cfg.params.get(method, {}):
            space.pop(f"{method}.{fixed}", None)
        spaces[method] = {key: dim.resolve(prior) for key, dim in space.items()}
    return spaces


def _load_space_file(path: str, methods: list[str]) -> dict:
    if Path(path).suffix in (".yaml", ".yml"):
        spec = config_io.load_spec(path)
        spec.pop("name")
    else:
        spec = config_io.load_file(path)
    for method, entries in spec.items():
        if method not in methods:
            raise UsageError(
                f"space file {path} names {method!r}, which is not among the methods "
                f"({','.join(methods)}); add it to --methods or drop its table"
            )
        if not isinstance(entries, dict):
            raise UsageError(f"space file {path}: [{method}] must be a table of parameters")
    return spec


def _check_tunable(task: Task, cfg, method: str, name: str, knobs: dict) -> None:
    if name in knobs or name in regularizers.hyperparameter_defaults(regularizers.get(method)):
        return
    if name in cfg.to_dict():
        raise UsageError(
            f"{name} cannot be tuned: it is a setting of the {task.name} task, the same for "
            f"every trial; pass it as {config_io.flag(name)} (tunable knobs: "
            f"{', '.join(knobs) or 'none'})"
        )
    known = [*regularizers.hyperparameter_defaults(regularizers.get(method)), *knobs]
    raise UsageError(f"space file: {method} has no parameter {name!r}; known: {', '.join(known)}")


def _check_kind(method: str, name: str, dim, space_file: str) -> None:
    default = regularizers.hyperparameter_defaults(regularizers.get(method)).get(name)
    if isinstance(dim, search.Range) and isinstance(default, str):
        raise UsageError(
            f"space file {space_file}: {method}.{name} takes names, not a range; "
            "give choices = [...]"
        )


def trial_settings(task: Task, cfg, method: str, values: dict, seeds: list[int], *,
                   validation: bool = False) -> dict:  # fmt: skip
    """The config dict of one method's run with ``values`` ({"METHOD.PARAM" or knob: value});
    ``validation``: a tuning run, scored on the task's validation data
    (``Tuning.validation``), never on the test set."""
    params = {k.split(".", 1)[1]: v for k, v in values.items() if "." in k}
    knobs = {k: v for k, v in values.items() if "." not in k}
    settings = {**cfg.to_dict(), "methods": [method], "seeds": seeds,
                "params": {method: {**cfg.params.get(method, {}), **params}}}  # fmt: skip
    if validation:
        settings |= task.tuning.validation(cfg)
    if "lambdas" in settings:
        settings["lambdas"] = {method: cfg.lambda_values(method)}
    return task.tuning.apply(settings, method, knobs)


def _distribution(dim):
    """Optuna's distribution of a dimension (log1m: the value 1 - x on a log scale)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(dim, search.Choice):
        return CategoricalDistribution(dim.values)
    if dim.scale == "log1m":
        return FloatDistribution(1 - dim.high, 1 - dim.low, log=True)
    if dim.integer:
        return IntDistribution(int(dim.low), int(dim.high), log=dim.scale == "log")
    return FloatDistribution(dim.low, dim.high, log=dim.scale == "log")


def run(task: Task, cfg, how: Execution, *, trials: int, final_seeds: int,
        space_file: str | None = None, executor: str = "local", address: str | None = None,
        sampler: str = "tpe") -> Path:  # fmt: skip
    """Tune every method of ``cfg`` with ``trials`` trials (the first its default), confirm
    the best on more tuning seeds, then retrain the winner and the default settings on seeds
    0..final_seeds-1; returns the tune's folder. ``how.jobs`` trials run at once, each on
    ``how.device`` (with its graphs and compile settings)."""
    for name, value in (("--trials", trials), ("--final-seeds", final_seeds)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UsageError(f"{name} must be an integer >= 1, got {value!r}")
    if final_seeds > TUNING_SEED:
        raise UsageError(f"--final-seeds must stay below the tuning seed {TUNING_SEED}")
    if sampler not in SAMPLERS:
        raise UsageError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if how.overwrite:
        raise UsageError("tune does not --overwrite; pass --resume or a new --out")
    if how.tensorboard:
        raise UsageError("tune does not log to TensorBoard (its trials run in folders of their "
                         "own); drop --tensorboard")  # fmt: skip
    jobs, _ = points.check_executor(executor, how.jobs, None)
    spaces = search_spaces(task, cfg, space_file)
    finals = list(range(final_seeds))
    for method in cfg.methods:  # settings only binding can judge fail before anything runs
        defaults = task.tuning.defaults(cfg, method)
        for seeds, validation in ((finals, False), ([TUNING_SEED], True)):
            settings = trial_settings(task, cfg, method, defaults, seeds, validation=validation)
            check_runnable(task, config_io.build(task.config, {}, settings))
    optuna = _optuna()
    out = Path(how.out) if how.out else Path("results") / "tune" / task.name / time.strftime(
        "%Y%m%d-%H%M%S")  # fmt: skip
    record = {
        "command": "tune", "task": task.name, "config": cfg.to_dict(),
        "tune": {"trials": trials, "final_seeds": finals, "tuning_seed": TUNING_SEED,
                 "confirm_seeds": list(CONFIRM_SEEDS), "confirm_top": CONFIRM_TOP,
                 "validation": task.tuning.validation(cfg), "sampler": sampler,
                 "startup_trials": STARTUP_TRIALS if sampler == "tpe" else None,
                 "first_trial": "default",
                 "spaces": {m: {k: d.spec() for k, d in s.items()}
                            for m, s in spaces.items()}},
        "execution": {**how.replace(out=str(out)).to_dict(), "executor": executor,
                      "address": address},
    }  # fmt: skip
    run_files.prepare_run_dir(out)
    with RunLock(out):
        _check_folder(out, record, cfg, resume=how.resume)
        url = folders.study_url(out)  # a damaged study.db fails here, before any write
        folders.write_config(out, {**record, "environment": environment.record(
            choose_device(task, cfg, how))})  # fmt: skip
        storage = optuna.storages.RDBStorage(url)
        studies = {
            m: optuna.create_study(study_name=m, storage=storage, direction="minimize",
                                   load_if_exists=True)
            for m in cfg.methods
        }  # fmt: skip
        total = len(cfg.methods) * (trials + CONFIRM_TOP + 1 + 2)
        done = sum(min(trials, _counted(s, spaces[m])) for m, s in studies.items())
        total -= sum(trials - 1 for space in spaces.values() if not space)
        with tqdm(total=total, initial=done, desc="tune", unit="run", disable=how.quiet,
                  dynamic_ncols=True) as progress:  # fmt: skip
            execute = _executor(out, how, executor, address, progress)
            _run_trials(task, cfg, studies, spaces, trials, jobs, execute, out, sampler)
            _run_confirmations(task, cfg, out, execute)
            _run_finals(task, cfg, finals, out, execute)
        tune_report.report(out)
    return out


def _optuna():
    try:
        import optuna
    except ImportError:
        raise UsageError('tune needs Optuna: pip install -e "." (optuna is a dependency)') from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _check_folder(out: Path, record: dict, cfg, *, resume: bool) -> None:
    """A folder holding a tune is continued only with --resume and the same settings: what
    its runs measure (``RunConfig.differences``) and the tune's own, less --trials (a resumed
    tune may raise its budget)."""
    saved = folders.read_config(out)
    if not saved and not (out / folders.STUDY).exists():
        if resume:
            # nothing of a tune is there yet
            shutil.rmtree(out / folders.POINTS, ignore_errors=True)
        return
    if not resume:
        raise UsageError(f"{out} holds a tune already; pass --resume to continue it or another "
                         "--out")  # fmt: skip
    if saved.get("command") != "tune":
        raise UsageError(f"--resume: {out} does not hold a tune; pass a tune's folder")
    changed = cfg.differences(saved["config"])
    changed += [k for k, v in record["tune"].items()
                if k != "trials" and saved["tune"].get(k) != v]  # fmt: skip
    if changed:
        raise UsageError(
            f"--resume: settings differ from the tune in {out} ({', '.join(changed)}); "
            "repeat its settings or use a new --out"
        )


def _executor(out: Path, how: Execution, executor: str, address, progress):
    """execute(trials) -> {id: outcome}: the trials of one round, ``how.jobs`` at once on
    processes or Ray, each a point on ``how.device``."""
    runs_on = {name: getattr(how, name) for name in points.SHARED_EXECUTION}

    def execute(trials: list[dict]) -> dict:
        outcomes = {}
        trials = [{**trial, "execution": runs_on} for trial in trials]
        stream = points.run_points(trials, out, executor=executor, jobs=how.jobs,
                                   address=address)  # fmt: skip
        for point, outcome in stream:
            outcomes[point["id"]] = outcome
            progress.set_postfix_str(f"{point['id']}: {outcome['status']}", refresh=False)
            progress.update()
        return outcomes

    return execute


def _ask_seed(method: str, number: int) -> int:
    return zlib.crc32(f"{method}:{number}".encode())


def _whole(trial, space: dict) -> bool:
    """Whether the trial holds its whole setting: the default trial (no parameters), or a
    value of every dimension. Optuna stores a new trial, then its parameters (or the default
    mark) one by one, so a tune killed in between leaves a trial that never ran."""
    if trial.user_attrs.get(tune_report.DEFAULT_MARK):
        return True
    return bool(trial.params) and set(trial.params) == {
        tune_report.optuna_name(k, d) for k, d in space.items()}


def _counted(study, space: dict) -> int:
    """Trials of the budget: finished, diverged or failed (not those cut off while asked)."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.FAIL)
    return sum(_whole(t, space) for t in study.get_trials(deepcopy=False, states=states))


def _has_default(study) -> bool:
    return any(t.user_attrs.get(tune_report.DEFAULT_MARK) for t in study.get_trials(deepcopy=False))


def _sampler(sampler: str, seed: int):
    from optuna.samplers import RandomSampler, TPESampler

    if sampler == "random":
        return RandomSampler(seed=seed)
    return TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS)


def _ask(study, method: str, space: dict, sampler: str):
    """The study's next trial: the method's default first, then the sampler's proposal."""
    if not _has_default(study):
        trial = study.ask()
        trial.set_user_attr(tune_report.DEFAULT_MARK, True)
        return trial
    whole = sum(_whole(t, space) for t in study.get_trials(deepcopy=False))
    study.sampler = _sampler(sampler, _ask_seed(method, whole))
    dists = {tune_report.optuna_name(k, d): _distribution(d) for k, d in space.items()}
    return study.ask(dists)


def _run_trials(task, cfg, studies, spaces, trials, jobs, execute, out: Path,
                sampler: str) -> None:  # fmt: skip
    from optuna.trial import TrialState

    # trials left running by an interrupted tune: run them again (their checkpoints resume);
    # one cut off while it was being asked never ran and leaves the budget (told as failed)
    batch = []
    for method, study in studies.items():
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if _whole(trial, spaces[method]):
                batch.append((method, trial))
            else:
                study.tell(trial.number, state=TrialState.FAIL)
    while True:
        for method, study in studies.items():
            asked = sum(1 for m, _ in batch if m == method)
            budget = trials if spaces[method] else 1  # nothing to tune: the default alone
            for _ in range(min(jobs, budget - _counted(study, spaces[method]) - asked)):
                batch.append((method, _ask(study, method, spaces[method], sampler)))
        if not batch:
            return
        asked = {}
        for method, trial in batch:
            values = tune_report.trial_values(trial.params)
            settings = trial_settings(task, cfg, method, {**task.tuning.defaults(cfg, method),
                                                          **values}, [TUNING_SEED],
                                      validation=True)  # fmt: skip
            asked[tune_report.trial_id(method, trial.number)] = (method, trial, settings)
        outcomes = execute([{"id": i, "task": task.name, "settings": s}
                            for i, (_, _, s) in asked.items()])  # fmt: skip
        for point_id, (method, trial, _) in asked.items():
            folder = points.point_folder(out, point_id)
            score = tune_report.trial_score(task, folder, outcomes[point_id])
            if score is None:
                studies[method].tell(trial.number, state=TrialState.FAIL)
            else:
                studies[method].tell(trial.number, score)
        batch = []


def _pending(task, cfg, out: Path, runs: dict) -> list[dict]:
    """The points of ``runs`` ({id: (method, values, seeds, validation)}) not yet finished with
    these settings. A finished folder that holds other settings (the winner changed when a
    resumed tune added trials) is emptied and trained again."""
    pending = []
    for point_id, (method, values, seeds, validation) in runs.items():
        folder = points.point_folder(out, point_id)
        settings = trial_settings(task, cfg, method, {**task.tuning.defaults(cfg, method),
                                                      **values}, seeds,
                                  validation=validation)  # fmt: skip
        if folders.read_status(folder).get("status") == "finished":
            saved = folders.read_config(folder).get("config", {})
            if not task.config(**settings).differences(saved):
                continue
            shutil.rmtree(folder)
        pending.append({"id": point_id, "task": task.name, "settings": settings})
    return pending


def _run_confirmations(task, cfg, out: Path, execute) -> None:
    """The best ``CONFIRM_TOP`` trials of each method and its default, again on the
    confirmation seeds (validation data, as the trials)."""
    trials = tune_report.collect_trials(out)
    runs = {tune_report.confirm_id(method, int(row["trial"])):
            (method, json.loads(row["setting"]), list(CONFIRM_SEEDS), True)
            for method, rows in trials.groupby("method", sort=False)
            for _, row in tune_report.candidates(rows, CONFIRM_TOP).iterrows()}  # fmt: skip
    pending = _pending(task, cfg, out, runs)
    if pending:
        execute(pending)


def _run_finals(task, cfg, finals, out, execute) -> None:
    """The winner and the default of each method on the final seeds."""
    winners = tune_report.winners(out, task)
    runs = {}
    for method in cfg.methods:
        runs[f"default/{method}"] = (method, {}, finals, False)
        if method in winners:
            runs[f"final/{method}"] = (method, json.loads(winners[method]), finals, False)
    pending = _pending(task, cfg, out, runs)
    if pending:
        execute(pending)
