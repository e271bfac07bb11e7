"""Command line: parses arguments into a config and calls one task function.

Bad input ends with one line on stderr naming the problem and the fix, exit status 2.
"""

import argparse
import sys
from pathlib import Path

from . import config as config_io
from .config import ImageConfig, LatentConfig
from .errors import Diverged, UsageError


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


def _lambdas(text: str) -> tuple[str | None, list[float]]:
    """'1,10' (every method) or 'moca=1,10' (one method)."""
    method, sep, values = text.rpartition("=")
    try:
        lams = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        lams = []
    if not lams:
        raise argparse.ArgumentTypeError(f"expects numbers such as 1,10 or moca=1,10, got {text!r}")
    return (method.strip() if sep else None), lams


def _add_common(p, default_methods: str, default_epochs: int) -> None:
    """Flags that every training task shares."""
    p.add_argument("--methods", type=_methods, help=f"comma list (default {default_methods})")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seeds",
        type=int,
        dest="n_seeds",
        metavar="N",
        help="run seeds 0..N-1 (default: latent 1, image 3)",
    )
    seeds.add_argument("--seed", type=int, help="run this one seed")
    p.add_argument("--epochs", type=int, help=f"training epochs (default {default_epochs})")
    p.add_argument("--batch-size", type=int, help="mini-batch size (default 64)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default 1e-3)")
    p.add_argument("--latent-dim", type=int, help="latent dimension (default 128)")
    p.add_argument(
        "--set",
        action="append",
        dest="assignments",
        metavar="METHOD.PARAM=VALUE",
        help="a method's hyper-parameter, e.g. --set moca.tau=0.2 (repeatable)",
    )
    p.add_argument("--config", help="TOML or JSON file of settings (flags override it)")
    p.add_argument("--device", help="auto (default), cpu or cuda")
    p.add_argument("--out", help="run folder (default results/<task>/<date-time>)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--resume", action="store_true", help="continue the runs in --out")


def _add_latent(sub) -> None:
    p = sub.add_parser(
        "latent",
        help="synthetic latent matching (paper Sec. 4.1, Fig. 2 left)",
        description="Match an MLP's codes of Gaussian data to the prior with each "
        "regularizer alone; SWD to the prior after every epoch.",
        argument_default=argparse.SUPPRESS,
    )
    _add_common(p, "moca,mmd,swd,sinkhorn", 80)
    p.add_argument("--points", type=int, help="number of data points (default 1000)")
    p.add_argument("--data-dim", type=int, help="data dimension (default 100)")
    p.add_argument("--hidden-dim", type=int, help="MLP hidden width (default 256)")
    p.add_argument("--prior", choices=["sphere", "gaussian"], help="latent prior (default sphere)")
    p.add_argument("--eval-directions", type=int, help="directions of the evaluation SWD (1000)")


def _add_image(sub) -> None:
    p = sub.add_parser(
        "image",
        help="WAE training per regularizer, image SWD vs epoch (paper Sec. 4.1, Fig. 2 right)",
        description="Train one WAE per (method, lam, seed) and track the image SWD between "
        "test images and decoded prior samples.",
        argument_default=argparse.SUPPRESS,
    )
    _add_common(p, "moca,mmd", ImageConfig.epochs)
    p.add_argument(
        "--dataset",
        help="digits (default, embedded), mnist, fashion-mnist, cifar10, celeba or folder",
    )
    p.add_argument("--data-root", help="folder holding the dataset (default ./data)")
    p.add_argument("--download", action="store_true", help="let torchvision download it")
    p.add_argument("--image-size", type=int, help="side length of `folder` images (default 64)")
    p.add_argument("--arch", help="conv (default), a1 or a2")
    p.add_argument(
        "--lambdas",
        type=_lambdas,
        action="append",
        dest="lambda_lists",
        metavar="[METHOD=]L1,L2",
        help="weights for every method, or for one (repeatable; default 1,10,100)",
    )
    p.add_argument("--lr-halve-every", type=int, help="halve the learning rate every N epochs")
    p.add_argument("--eval-every", type=int, help="evaluate every N epochs (default 5)")
    p.add_argument("--eval-samples", type=int, help="images per evaluation (default: test set)")
    p.add_argument("--amp", choices=["none", "bf16"], help="autocast the networks to bfloat16")
    p.add_argument("--compile", action="store_true", help="torch.compile encoder and decoder")


def _config(cls, args: argparse.Namespace):
    """A validated ``cls`` from the config file (if any) overridden by the flags given."""
    given = vars(args)
    file_settings = config_io.load_file(given.pop("config")) if "config" in given else {}
    flags_only = ("command", "n_seeds", "seed", "assignments", "lambda_lists")
    cli = {k: v for k, v in given.items() if k not in flags_only}
    if "n_seeds" in given:
        if given["n_seeds"] < 1:
            raise UsageError(f"--seeds must be >= 1, got {given['n_seeds']}")
        cli["seeds"] = list(range(given["n_seeds"]))
    if "seed" in given:
        cli["seeds"] = [given["seed"]]
    for text in given.get("assignments", []):
        method, param, value = config_io.parse_assignment(text)
        cli.setdefault("params", {}).setdefault(method, {})[param] = value
    if "lambda_lists" in given:
        methods = cli.get("methods") or file_settings.get("methods") or cls().methods
        cli["lambdas"] = {}
        for method, lams in given["lambda_lists"]:
            for m in [method] if method else methods:
                cli["lambdas"][m] = lams
    return config_io.build(cls, file_settings, cli)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wae-bench", description="Benchmark WAE latent regularizers.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_latent(sub)
    _add_image(sub)
    rep = sub.add_parser("report", help="redraw tables and figures of a run folder from its CSV")
    rep.add_argument("run_dir", type=Path)
    sweep = sub.add_parser(
        "sweep", help="a grid of runs from a TOML/YAML file or a preset ablation"
    )
    sweep.add_argument("spec", nargs="?", help="sweep file (.toml, .yaml)")
    sweep.add_argument("--preset", help="tau, queue, momentum or lambda (embedded digits)")
    sweep.add_argument("--executor", default="local", help="local (default) or ray")
    sweep.add_argument("--jobs", type=int, help="local processes, one core each (default: cores)")
    sweep.add_argument("--address", help="Ray cluster address (default: start Ray locally)")
    sweep.add_argument("--out", type=Path, help="sweep folder (default results/sweeps/<name>)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    timing = sub.add_parser(
        "timing", help="pytest-benchmark JSON -> timing.md (table, target ratios) and scaling.png"
    )
    timing.add_argument("json_file", type=Path)
    timing.add_argument("--out", type=Path, help="folder for the outputs (default: the JSON's)")
    return parser


def _task(name: str):
    """The task module (imported lazily: --help stays fast)."""
    from .tasks import image, latent

    return {"latent": latent, "image": image}[name]


CONFIGS = {"latent": LatentConfig, "image": ImageConfig}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command in CONFIGS:
            out = _task(args.command).run(_config(CONFIGS[args.command], args))
            print(f"results in {out}")
            print((out / "summary.md").read_text())
        elif args.command == "sweep":
            from . import sweep

            if (args.spec is None) == (args.preset is None):
                raise UsageError("give a sweep file or --preset NAME (one of them)")
            spec = sweep.preset(args.preset) if args.preset else sweep.load_spec(args.spec)
            out = args.out or Path("results") / "sweeps" / spec["name"]
            sweep.run(spec, out, args.executor, args.jobs, args.address, args.quiet)
            print(f"results in {out}")
            print((out / "sweep.md").read_text())
        elif args.command == "timing":
            from . import timing

            out = timing.report(args.json_file, args.out)
            print(f"wrote timing.md and scaling.png/.pdf in {out}")
        else:
            if (args.run_dir / "sweep.json").is_file():
                from . import sweep

                sweep.report(args.run_dir)
            else:
                kind = "image" if (args.run_dir / "metrics.csv").is_file() else "latent"
                _task(kind).report(args.run_dir)
            print(f"rewrote the summary tables and figures in {args.run_dir}")
    except UsageError as err:
        print(f"wae-bench: error: {err}", file=sys.stderr)
        return 2
    except Diverged as err:
        print(f"wae-bench: diverged: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("wae-bench: interrupted; files written so far are complete", file=sys.stderr)
        return 130
    return 0
