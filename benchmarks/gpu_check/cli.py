"""``python -m benchmarks.gpu_check``: check the dependencies, run the sections within their
budgets, keep every log, and write the summary after each section (see the package docstring)."""

import argparse
import importlib
import json
import re
import shutil
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# module -> the package to install: the project's dependencies and pytest (the CUDA tests)
DEPENDENCIES = {"torch": "torch", "torchvision": "torchvision", "geomloss": "geomloss",
                "ot": "POT", "numpy": "numpy", "pandas": "pandas", "matplotlib": "matplotlib",
                "tqdm": "tqdm", "sklearn": "scikit-learn", "pytest": "pytest"}  # fmt: skip


def missing_dependencies() -> list[str]:
    """The packages whose module does not import (absent, or installed but broken)."""
    missing = []
    for module, package in DEPENDENCIES.items():
        try:
            importlib.import_module(module)
        except Exception:  # an ImportError, or a broken build failing at import
            missing.append(package)
    return missing


def parse(argv: list[str] | None) -> argparse.Namespace:
    doc = sys.modules[__package__].__doc__
    parser = argparse.ArgumentParser(prog="gpu_check", description=doc.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "results" / "timing",
                        help="summary and logs folder (default results/timing)")  # fmt: skip
    parser.add_argument("--small", action="store_true",
                        help="tiny sizes (automatic without CUDA)")  # fmt: skip
    parser.add_argument("--stem", help="file name without suffix (default gpu_check; "
                        "gpu_check_cpu without CUDA, gpu_check_small with --small)")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    missing = missing_dependencies()
    if missing:
        names = " ".join(missing)
        print(f"gpu_check: error: {', '.join(missing)} cannot be imported, and the check needs "
              f"{'it' if len(missing) == 1 else 'them'}: install first (`pip install {names}`; "
              f"without network, from wheels: `pip install --no-index --find-links DIR {names}`)",
              file=sys.stderr)  # fmt: skip
        return 2
    import torch

    from .check import Check

    cuda = torch.cuda.is_available()
    stem = args.stem or ("gpu_check_cpu" if not cuda else
                         "gpu_check_small" if args.small else "gpu_check")  # fmt: skip
    logs = keep_aside(args.out / f"{stem}_logs")
    check = Check(args.small, logs)
    check.runs.mkdir()
    console = open(logs / "check.log", "w", buffering=1)

    def say(text: str, end: str = "\n") -> None:
        print(text, end=end, flush=True)
        console.write(text + end)

    def write(sections, finished=False):
        return write_summary(check, sections, args.out, stem, finished)

    gpu = f"CUDA: {torch.cuda.get_device_name()}" if cuda else "no CUDA"
    say(f"gpu check ({'small' if check.small else 'full'} mode, {gpu})")
    sections = []
    try:
        run_sections(check, sections, say, write)
    finally:
        shutil.rmtree(check.tmp, ignore_errors=True)  # generated data, runs copied to logs
    summary = write(sections, finished=True)
    say(
        f"wrote {args.out / stem}.md and .json, logs in {logs} "
        f"({time.monotonic() - check.start:.0f} s)"
    )
    console.close()
    return 1 if summary["failed_sections"] else 0


def keep_aside(logs: Path) -> Path:
    """An empty logs folder; an earlier run's is renamed with its time, never deleted."""
    if logs.exists() and any(logs.iterdir()):
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(logs.stat().st_mtime))
        aside, n = logs.with_name(f"{logs.name}.{stamp}"), 1
        while aside.exists():  # two runs within a second
            n += 1
            aside = logs.with_name(f"{logs.name}.{stamp}-{n}")
        logs.rename(aside)
    logs.mkdir(parents=True, exist_ok=True)
    return logs


def run_sections(check, sections: list, say, write) -> None:
    """Each section in turn within its budget, one progress line and one log each; a failure
    is recorded, not raised; the summary is rewritten after every section."""
    from .check import Section
    from .sections import SECTIONS

    for i, (title, run) in enumerate(SECTIONS, 1):
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        check.begin(title)
        section = Section(title, budget_s=check.budget, log=f"{i}-{slug}.log")
        say(f"[{i}/{len(SECTIONS)}] {title} ...", end=" ")
        start = time.perf_counter()
        trace = ""
        try:
            run(check, section)
        except Exception as err:
            section.status = "failed"
            trace = "".join(traceback.format_exception(err))
            section.error = "".join(traceback.format_exception_only(err)) + "\n" + \
                "".join(traceback.format_tb(err.__traceback__)[-3:])  # fmt: skip
        section.seconds = time.perf_counter() - start
        why = f": {section.error.splitlines()[0]}" if section.error else ""
        say(f"{section.status} ({section.seconds:.1f} s){why}")
        (check.logs / section.log).write_text("\n".join(
            [f"{title}: {section.status}, {section.seconds:.1f} s of a {section.budget_s:.0f} s "
             "budget", *section.notes, *section.details, trace]) + "\n")  # fmt: skip
        sections.append(section)
        write(sections)


def write_summary(check, sections: list, out: Path, stem: str, finished: bool) -> dict:
    """``<stem>.json`` and ``.md``; before the end, marked incomplete."""
    from wae_bench import run_files

    from .summary import markdown, target_rows

    total = time.monotonic() - check.start
    targets = target_rows(check, sections)
    summary = {"mode": "small" if check.small else "full", "cuda": check.cuda,
               "finished": finished, "seconds": total, "logs": check.logs.name,
               "failed_sections": [s.title for s in sections if s.status != "ok"],
               "targets": targets,
               "sections": [{k: v for k, v in asdict(s).items() if k != "details"}
                            for s in sections]}  # fmt: skip
    run_files.write_text(out / f"{stem}.json", json.dumps(summary, indent=2) + "\n")
    page = markdown(check, sections, targets, total, f"{check.logs.name}/", finished)
    run_files.write_text(out / f"{stem}.md", page)
    return summary
