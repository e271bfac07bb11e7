"""Command line: parses arguments into a config and calls one handler per command.

Training commands come from the task registry (``wae_bench.tasks``): each task adds its own
flags to the shared ones. Bad input ends with one line on stderr naming the problem and the
fix, exit status 2.
"""

import argparse
import sys
from pathlib import Path

from . import __version__, command, execution, folders, tasks
from . import config as config_io
from .errors import Diverged, UsageError
from .execution import Execution


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)  # --epoch is not --epochs

    def error(self, message):  # one line, not usage + traceback
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _methods(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expects a comma-separated list, e.g. moca,mmd")
    return names


RUNS_AT_ONCE = ("train N runs (method, lam, seed) at once in worker processes, on the one "
                "device; same results (default 1)")
SELECTION_AT_ONCE = ("train N runs at once in worker processes: the selection's (method, "
                     "lam) points, then the comparison's runs (default 1)")
TRIALS_AT_ONCE = ("train N trials at once in worker processes (local) or Ray tasks; each "
                  "round asks N trials per method, so the same N gives the same trials "
                  "(default 1)")


def _add_shared_flags(p: argparse.ArgumentParser, defaults: config_io.RunConfig,
                      jobs_help: str = RUNS_AT_ONCE) -> None:  # fmt: skip
    """Flags of every training task (``RunConfig`` and ``Execution``), with that task's
    defaults in the help; ``jobs_help`` says what ``--jobs`` counts in this command."""
    p.add_argument("--methods", type=_methods,
                   help=f"comma list (default {','.join(defaults.methods)})")  # fmt: skip
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, dest="n_seeds", metavar="N",
                       help=f"run seeds 0..N-1 (default {len(defaults.seeds)})")  # fmt: skip
    seeds.add_argument("--seed", type=int, help="run this one seed")
    p.add_argument("--epochs", type=int, help=f"training epochs (default {defaults.epochs})")
    p.add_argument("--batch-size", type=int,
                   help=f"mini-batch size (default {defaults.batch_size})")  # fmt: skip
    p.add_argument("--lr", type=float, help=f"Adam learning rate (default {defaults.lr:g})")
    p.add_argument("--latent-dim", type=int,
                   help=f"latent dimension (default {defaults.latent_dim})")  # fmt: skip
    p.add_argument("--set", action="append", dest="assignments", metavar="METHOD.PARAM=VALUE",
                   help="a method's hyper-parameter, e.g. moca.tau=0.2 (repeatable)")  # fmt: skip
    p.add_argument("--config", help="TOML or JSON file of settings (flags override it)")
    p.add_argument("--device", help="auto (default: the task's faster device, see "
                   "docs/timing.md), cpu or cuda")  # fmt: skip
    p.add_argument("--jobs", type=int, metavar="N", help=jobs_help)
    p.add_argument("--out", help="run folder (default results/<task>/<date-time>)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--resume", action="store_true", help="continue the runs in --out")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run in --out (once the new one has finished)")  # fmt: skip
    p.add_argument("--amp", choices=list(config_io.AMP_CHOICES),
                   help="autocast the networks to bfloat16")  # fmt: skip
    p.add_argument("--compile", action="store_true", help="torch.compile the networks")
    p.add_argument("--no-graphs", action="store_false", dest="graphs",
                   help="on CUDA, run steps eagerly, not replayed as CUDA graphs")  # fmt: skip
    p.add_argument("--baseline", metavar="METHOD",
                   help="summaries compare every method with this one (default: the paper's "
                   "moca when it runs, else the first method listed)")  # fmt: skip
    p.add_argument("--tensorboard", metavar="DIR",
                   help="also log scalars and image grids to TensorBoard in DIR")  # fmt: skip


def _config(task: tasks.Task, args: argparse.Namespace) -> tuple[config_io.RunConfig, Execution]:
    """What ``task`` measures and how it runs, validated, from the config file (if any)
    overridden by the flags."""
    given = {k: v for k, v in vars(args).items() if k not in ("command", "handler")}
    file_settings = config_io.load_file(given.pop("config")) if "config" in given else {}
    cli = {k: v for k, v in given.items() if k not in ("n_seeds", "seed", "assignments")}
    if "n_seeds" in given:
        if given["n_seeds"] < 1:
            raise UsageError(f"--seeds must be >= 1, got {given['n_seeds']}")
        cli["seeds"] = list(range(given["n_seeds"]))
    if "seed" in given:
        cli["seeds"] = [given["seed"]]
    for text in given.get("assignments", []):
        method, param, value = config_io.parse_assignment(text)
        cli.setdefault("params", {}).setdefault(method, {})[param] = value
    file_measured, file_execution = execution.split(file_settings)
    cli_measured, cli_execution = execution.split(cli)
    cfg = config_io.build(task.config, file_measured, cli_measured)
    return cfg, Execution(**{**file_execution, **cli_execution}).check(cfg.methods)


def _train_command(args: argparse.Namespace) -> None:
    task = tasks.get(args.command)
    out = command.execute(task, *_config(task, args))
    print(f"results in {out} (tables; `wae-bench report {out}` draws the figures and a page)")
    print((out / folders.SUMMARY_MD).read_text())


TUNE_FLAGS = ("trials", "final_seeds", "space", "executor", "address", "sampler")


def _tune(args: argparse.Namespace) -> None:
    from . import tune

    task = tasks.get(args.task)
    given = vars(args)
    if "n_seeds" in given or "seed" in given:
        raise UsageError(
            "tune picks its seeds: trials run on the tuning seed, the final comparison on "
            "seeds 0..N-1 of --final-seeds N; drop --seed(s)"
        )
    options = {k: given.pop(k) for k in TUNE_FLAGS if k in given}
    given.pop("task")
    cfg, how = _config(task, args)
    out = tune.run(task, cfg, how, trials=options.get("trials", 30),
                   final_seeds=options.get("final_seeds", 5), space_file=options.get("space"),
                   executor=options.get("executor", "local"),
                   address=options.get("address"),
                   sampler=options.get("sampler", "tpe"))  # fmt: skip
    print(f"results in {out}")
    print((out / "tune.md").read_text())


def _select(args: argparse.Namespace) -> None:
    from . import selection

    task = tasks.get(args.task)
    given = vars(args)
    best_of = given.pop("best_of", [])
    given.pop("task")
    cfg, how = _config(task, args)
    out = selection.run(task, cfg, how, best_of=best_of)
    print(f"results in {out}")
    print((out / folders.CHOICE_MD).read_text())
    print((out / folders.COMPARISON / folders.SUMMARY_MD).read_text())


def _sweep(args: argparse.Namespace) -> None:
    from . import sweep

    if (args.spec is None) == (args.preset is None):
        raise UsageError("give a sweep file or --preset NAME (one of them)")
    spec = sweep.preset(args.preset) if args.preset else config_io.load_spec(args.spec)
    out = args.out or Path("results") / "sweeps" / spec["name"]
    sweep.run(spec, out, executor=args.executor, jobs=args.jobs, address=args.address,
              gpus_per_run=args.gpus_per_run, quiet=args.quiet)  # fmt: skip
    print(f"results in {out}")
    print((out / "sweep.md").read_text())


def _timing(args: argparse.Namespace) -> None:
    from . import timing
    from .plots import pdfs

    with pdfs():
        out = timing.report(args.json_file, args.out)
    print(f"wrote timing.md and the scaling figures (CPU, and CUDA when measured) in {out}")


def _compare(args: argparse.Namespace) -> int:
    from . import compare
    from .plots import pdfs

    with pdfs():
        text, failures = compare.run(args.run_dirs, reference=args.check, k=args.k,
                                     rtol=args.rtol, out=args.out)  # fmt: skip
    print(text)
    if args.out:
        print(f"wrote compare.md, compare.csv and compare.png/.pdf in {args.out}")
    for failure in failures:
        print(f"wae-bench: outside the reference: {failure}", file=sys.stderr)
    if args.check:
        verdict = f"{len(failures)} value(s) outside" if failures else "all values within"
        print(f"check against {args.check}: {verdict} mean ± {args.k:g} std")
    return 1 if failures else 0


def _report(args: argparse.Namespace) -> None:
    from . import report

    drawn = report.redraw(args.run_dir)
    print(f"rewrote the summary tables and figures (PNG and PDF) in {drawn}, and its page, "
          "index.html")


def _view(args: argparse.Namespace) -> None:
    from . import view

    index, written = view.view(args.folders, args.out)
    print(f"wrote {index} and {len(written)} folder page(s) (index.html in each); open "
          f"{index} in a browser (it works offline)")


def _results(args: argparse.Namespace) -> None:
    from . import results_best, results_table

    if not args.best and (args.task, args.epoch, args.metric) != (None, None, None):
        raise UsageError("--task, --epoch and --metric choose what --best ranks; add --best")
    table = results_table.collect(args.folders)
    answer = (results_best.markdown(results_best.best(table, args.task, args.epoch,
                                                      args.metric), args.epoch)
              if args.best else "")  # fmt: skip
    results_table.write(table, args.out, args.folders)
    print(f"wrote {args.out}: {results_table.describe(table)}")
    if answer:
        print()
        print(answer, end="")


def _classifier(args: argparse.Namespace) -> None:
    from . import classifier

    out, card = classifier.train(args.dataset, args.data_root, args.out, seed=args.seed,
                                 epochs=args.epochs, device=args.device,
                                 overwrite=args.overwrite, quiet=args.quiet)  # fmt: skip
    print(f"wrote {out} and {out.with_suffix('.json').name}: {card['dataset']} test accuracy "
          f"{100 * card['test_accuracy']:.2f}%, sha256 {card['sha256'][:12]}...; use it with "
          f"wae-bench image --dataset {card['dataset']} --classifier {out}")  # fmt: skip


def _list_methods(args: argparse.Namespace) -> None:
    from .methods import catalog

    print(catalog())


def build_parser() -> argparse.ArgumentParser:
    """The ``wae-bench`` parser: one subcommand per task, then tune, select, report, view,
    sweep, compare, timing, results, classifier and methods."""
    parser = _Parser(prog="wae-bench", description="Benchmark WAE latent regularizers.")
    parser.add_argument("--version", action="version", version=f"wae-bench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in tasks.names():
        task = tasks.get(name)
        p = sub.add_parser(name, help=task.about.help, description=task.about.description,
                           argument_default=argparse.SUPPRESS)  # fmt: skip
        _add_shared_flags(p, task.config())
        task.config.add_arguments(p)
        p.set_defaults(handler=_train_command)
    tune = sub.add_parser("tune", help="equal-budget tuning of every method (Optuna), then "
                          "default vs tuned on fresh seeds")  # fmt: skip
    tune_tasks = tune.add_subparsers(dest="task", required=True, parser_class=_Parser)
    for name in tasks.names():
        task = tasks.get(name)
        p = tune_tasks.add_parser(name, help=f"tune the methods of the {name} task",
                                  argument_default=argparse.SUPPRESS)  # fmt: skip
        _add_shared_flags(p, task.config(), jobs_help=TRIALS_AT_ONCE)
        task.config.add_arguments(p)
        p.add_argument("--trials", type=int, help="trials per method (default 30)")
        p.add_argument("--final-seeds", type=int, metavar="N",
                       help="retrain the best and default settings on seeds 0..N-1 (default 5)")
        p.add_argument("--space", metavar="FILE",
                       help="TOML/YAML file narrowing or replacing search spaces")  # fmt: skip
        p.add_argument("--sampler", help="tpe (default; the default setting, 7 random trials, "
                       "then TPE) or random (independent draws after the default: the tune "
                       "report adds Dodge's expected best)")  # fmt: skip
        p.add_argument("--executor", help="local (default) or ray")
        p.add_argument("--address", help="Ray cluster address (default: start Ray locally)")
        p.set_defaults(handler=_tune)
    select = sub.add_parser("select", help="each method's lam chosen on validation data, the "
                            "best of a group kept, then the chosen compared on the test split")
    select_tasks = select.add_subparsers(dest="task", required=True, parser_class=_Parser)
    for name in tasks.names():
        task = tasks.get(name)
        if task.tuning.penalty_knob != "lam":
            continue
        p = select_tasks.add_parser(
            name, help=f"choose lam on validation data, then compare ({name} task)",
            description="Train every (method, lam) once on seed 100 on the training images "
            "less a validation split, scored on it; keep each method's lowest at the last epoch "
            "and, of --best-of, the best method; then train the kept settings on --seeds and "
            "evaluate them on the test split.", argument_default=argparse.SUPPRESS)
        _add_shared_flags(p, task.config(), jobs_help=SELECTION_AT_ONCE)
        task.config.add_arguments(p)
        p.add_argument("--best-of", type=_methods, metavar="METHODS",
                       help="keep only the best of these methods (comma list, each also in "
                       "--methods), e.g. cwae,ssw,unif,energy")  # fmt: skip
        p.set_defaults(handler=_select)
    rep = sub.add_parser("report", help="redraw tables and figures of a run folder from its CSV")
    rep.add_argument("run_dir", type=Path)
    rep.set_defaults(handler=_report)
    view = sub.add_parser("view", help="an index page over result folders (a leaderboard per "
                          "task) and the page of each folder in them, for a browser")  # fmt: skip
    view.add_argument("folders", nargs="*", default=["results"], metavar="FOLDER",
                      help="folders to read run folders from, recursively (default: results)")
    view.add_argument("--out", type=Path, metavar="DIR",
                      help="folder for index.html and _static/ (default: the first FOLDER)")
    view.set_defaults(handler=_view)
    sweep = sub.add_parser("sweep",
                           help="a grid of runs from a TOML/YAML file or a preset ablation")
    sweep.add_argument("spec", nargs="?", help="sweep file (.toml, .yaml)")
    sweep.add_argument("--preset", help="tau, queue, momentum or lambda (embedded digits)")
    sweep.add_argument("--executor", default="local", help="local (default) or ray")
    sweep.add_argument("--jobs", type=int, metavar="N", help="train N grid points at once, in "
                       "local processes of one core each (default: the cores)")  # fmt: skip
    sweep.add_argument("--address", help="Ray cluster address (default: start Ray locally)")
    sweep.add_argument("--gpus-per-run", type=float, metavar="FRACTION",
                       help="with ray: the share of a GPU each cuda run asks for, in (0, 1] "
                       "(default 1; 0.25: four runs per card)")  # fmt: skip
    sweep.add_argument("--out", type=Path, help="sweep folder (default results/sweeps/<name>)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(handler=_sweep)
    comp = sub.add_parser("compare", help="runs of one task side by side; --check: a gate")
    comp.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    comp.add_argument("--check", type=Path, metavar="REF_DIR",
                      help="exit 1 if a run leaves the reference's mean ± k std")  # fmt: skip
    comp.add_argument("--k", type=float, default=3.0, help="allowed reference stds (default 3)")
    comp.add_argument("--rtol", type=float, default=0.0,
                      help="allowed relative difference (a one-seed reference)")  # fmt: skip
    comp.add_argument("--out", type=Path, help="folder for compare.md/.csv/.png")
    comp.set_defaults(handler=_compare)
    timing = sub.add_parser(
        "timing", help="pytest-benchmark JSON -> timing.md (table, target ratios) and scaling.png"
    )
    timing.add_argument("json_file", type=Path)
    timing.add_argument("--out", type=Path, help="folder for the outputs (default: the JSON's)")
    timing.set_defaults(handler=_timing)
    res = sub.add_parser("results", help="every run folder under FOLDERs as one long table "
                         "(Parquet); --best: each experiment's groups ranked, with intervals")
    res.add_argument("folders", nargs="*", default=["results"], metavar="FOLDER",
                     help="folders to read run folders from, recursively (default: results)")
    res.add_argument("--out", type=Path, default=Path("results.parquet"),
                     help="the Parquet file to write (default ./results.parquet)")
    res.add_argument("--best", action="store_true", help="per task, each experiment's lowest "
                     "mean and the next, with 95%% t intervals")  # fmt: skip
    res.add_argument("--task", help="with --best: this task only")
    res.add_argument("--epoch", type=int, help="with --best: at this epoch (default: each "
                     "group's last)")  # fmt: skip
    res.add_argument("--metric", help="with --best: this metric (default: the task's headline)")
    res.set_defaults(handler=_results)
    clf = sub.add_parser("classifier", help="train the network whose features give the offline "
                         "sample quality (classifier Frechet distance, precision, recall)")
    clf.add_argument("--dataset", required=True, help="digits, mnist or fashion-mnist")
    clf.add_argument("--data-root", default="data", help="folder holding the dataset "
                     "(default ./data, then the system package's folder)")  # fmt: skip
    clf.add_argument("--out", type=Path, help="weights file (default classifiers/<dataset>.pt)")
    clf.add_argument("--seed", type=int, default=0, help="initial weights and batch order (0)")
    clf.add_argument("--epochs", type=int, help="default: per data set, e.g. 5 for fashion-mnist")
    clf.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    clf.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    clf.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    clf.set_defaults(handler=_classifier)
    methods = sub.add_parser("methods", help="every registered regularizer: paper, "
                             "hyper-parameters, prior, CUDA capture")  # fmt: skip
    methods.set_defaults(handler=_list_methods)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command in ``argv``; returns the exit status (0, 1 diverged, 2 bad input)."""
    try:
        args = build_parser().parse_args(argv)
        status = args.handler(args) or 0
    except UsageError as err:
        print(f"wae-bench: error: {err}", file=sys.stderr)
        return 2
    except Diverged as err:
        print(f"wae-bench: diverged: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("wae-bench: interrupted; files written so far are complete", file=sys.stderr)
        return 130
    return status
