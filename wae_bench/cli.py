"""Command line: parses arguments into a config and calls one task function.

Bad input ends with one line on stderr naming the problem and the fix, exit status 2.
"""

import argparse
import sys
from pathlib import Path

from . import config as config_io
from .config import LatentConfig
from .errors import UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + traceback
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _methods(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expects a comma-separated list, e.g. moca,mmd")
    return names


def _add_latent(sub) -> None:
    p = sub.add_parser(
        "latent",
        help="synthetic latent matching (paper Sec. 4.1, Fig. 2 left)",
        description="Match an MLP's codes of Gaussian data to the prior with each "
        "regularizer alone; SWD to the prior after every epoch.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--methods", type=_methods, help="comma list (default moca,mmd,swd,sinkhorn)")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seeds", type=int, dest="n_seeds", metavar="N", help="run seeds 0..N-1 (default 1)"
    )
    seeds.add_argument("--seed", type=int, help="run this one seed")
    p.add_argument("--epochs", type=int, help="training epochs (default 80)")
    p.add_argument("--batch-size", type=int, help="mini-batch size (default 64)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default 1e-3)")
    p.add_argument("--points", type=int, help="number of data points (default 1000)")
    p.add_argument("--data-dim", type=int, help="data dimension (default 100)")
    p.add_argument("--hidden-dim", type=int, help="MLP hidden width (default 256)")
    p.add_argument("--latent-dim", type=int, help="latent dimension (default 128)")
    p.add_argument("--prior", choices=["sphere", "gaussian"], help="latent prior (default sphere)")
    p.add_argument("--eval-directions", type=int, help="directions of the evaluation SWD (1000)")
    p.add_argument(
        "--set",
        action="append",
        dest="assignments",
        metavar="METHOD.PARAM=VALUE",
        help="a method's hyper-parameter, e.g. --set moca.tau=0.2 (repeatable)",
    )
    p.add_argument("--config", help="TOML or JSON file of settings (flags override it)")
    p.add_argument("--device", help="auto (default), cpu or cuda")
    p.add_argument("--out", help="run folder (default results/latent/<date-time>)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _latent_config(args: argparse.Namespace) -> LatentConfig:
    given = vars(args)
    file_settings = config_io.load_file(given.pop("config")) if "config" in given else {}
    cli = {k: v for k, v in given.items() if k not in ("command", "n_seeds", "seed", "assignments")}
    if "n_seeds" in given:
        if given["n_seeds"] < 1:
            raise UsageError(f"--seeds must be >= 1, got {given['n_seeds']}")
        cli["seeds"] = list(range(given["n_seeds"]))
    if "seed" in given:
        cli["seeds"] = [given["seed"]]
    for text in given.get("assignments", []):
        method, param, value = config_io.parse_assignment(text)
        cli.setdefault("params", {}).setdefault(method, {})[param] = value
    return config_io.build(LatentConfig, file_settings, cli)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wae-bench", description="Benchmark WAE latent regularizers.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_latent(sub)
    rep = sub.add_parser("report", help="redraw tables and figures of a run folder from its CSV")
    rep.add_argument("run_dir", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "latent":
            from .tasks import latent

            out = latent.run(_latent_config(args))
            print(f"results in {out}")
            print((out / "summary.md").read_text())
        elif args.command == "report":
            from .tasks import latent

            latent.report(args.run_dir)
            print(f"rewrote summary.csv, summary.md and curves.png/.pdf in {args.run_dir}")
    except UsageError as err:
        print(f"wae-bench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("wae-bench: interrupted; files written so far are complete", file=sys.stderr)
        return 130
    return 0
