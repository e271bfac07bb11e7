"""`wae-bench timing FILE.json`: pytest-benchmark JSON -> timing.md and scaling.png.

Each benchmark in benchmarks/ tags itself with ``extra_info`` (role, method, batch, ...);
this module reads only those tags and the statistics, so it needs nothing else from the run.
"""

import json
from pathlib import Path

import pandas as pd

from . import plots, results
from .errors import UsageError


def load(path: Path) -> tuple[pd.DataFrame, dict]:
    """One row per benchmark (tags, median and IQR in seconds, rounds) and the machine info."""
    try:
        raw = json.loads(Path(path).read_text())
        rows = [
            {"name": entry["name"], "group": entry.get("group") or "",
             "median": entry["stats"]["median"], "iqr": entry["stats"]["iqr"],
             "rounds": entry["stats"]["rounds"], **entry.get("extra_info", {})}
            for entry in raw["benchmarks"]
        ]  # fmt: skip
    except FileNotFoundError:
        raise UsageError(
            f"{path} not found; write it with python -m pytest benchmarks/ --benchmark-json FILE"
        ) from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UsageError(
            f"{path} is not a pytest-benchmark JSON file (benchmarks with name and stats)"
        ) from None
    frame = pd.DataFrame(rows)
    if "role" not in frame:
        raise UsageError(f"{path} holds no wae-bench benchmarks (no 'role' tags)")
    return frame, raw.get("machine_info", {})


def _one(frame: pd.DataFrame, **tags) -> float:
    mask = pd.Series(True, index=frame.index)
    for key, value in tags.items():
        mask &= frame.get(key) == value
    hits = frame.loc[mask, "median"]
    return float(hits.iloc[0]) if len(hits) else float("nan")


def targets(frame: pd.DataFrame) -> list[tuple[str, str, str, bool | None]]:
    """(target, measured, limit, met) for each target of the performance issue."""
    out = []

    def add(name, value, limit, fmt="{:.2f}x"):
        met = None if value != value else value <= limit  # NaN: not measured
        out.append((name, "not measured" if met is None else fmt.format(value),
                    fmt.format(limit), met))  # fmt: skip

    add("latent epoch: harness / bare loop",
        _one(frame, role="latent_epoch", variant="harness") /
        _one(frame, role="latent_epoch", variant="bare"), 1.1)  # fmt: skip
    for setting in frame.loc[frame.get("role") == "image_step", "setting"].dropna().unique():
        add(f"image step ({setting}): moca / plain autoencoder",
            _one(frame, role="image_step", method="moca", setting=setting) /
            _one(frame, role="image_step", method="plain", setting=setting), 1.3)  # fmt: skip
    for batch in sorted(frame.loc[frame.get("method") == "pot-swd", "batch"].dropna().unique()):
        add(f"swd / POT sliced_wasserstein_distance, B={int(batch)}",
            _one(frame, role="regularizer", method="swd", batch=batch) /
            _one(frame, role="regularizer", method="pot-swd", batch=batch), 1.0)  # fmt: skip
    add("image SWD, N=10,000 32x32x3 (seconds)", _one(frame, role="image_swd", n=10_000), 20.0,
        "{:.1f} s")  # fmt: skip
    metric = frame[(frame.get("role") == "image_swd") & (frame.get("n") == 10_000)]
    if "peak_mb" in metric and len(metric):
        add("image SWD, N=10,000: peak memory", float(metric["peak_mb"].iloc[0]) / 1024, 4.0,
            "{:.2f} GB")  # fmt: skip
    for _, row in frame[frame.get("role") == "memory"].iterrows():
        if row["batch"] == 8192:
            add(f"{row['method']} at B=8192: peak memory", row["peak_mb"] / 1024, 24.0, "{:.2f} GB")
    for shape in ("1000x1000", "256x50"):
        add(f"sort {shape}: numpy / torch.sort",
            _one(frame, role="sort", impl="numpy", shape=shape) /
            _one(frame, role="sort", impl="torch", shape=shape), 1.0)  # fmt: skip
    return out


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g}"


def markdown(frame: pd.DataFrame, machine: dict) -> str:
    """timing.md: the machine, the targets (measured vs limit) and every benchmark's median."""
    lines = ["# Timing", ""]
    cpu = machine.get("cpu", {}).get("brand_raw") or machine.get("processor") or "unknown CPU"
    lines += [f"Machine: {cpu}, {machine.get('cpu', {}).get('count', '?')} cores; "
              f"Python {machine.get('python_version', '?')}. Medians of pytest-benchmark rounds; "
              "ratios are from this one run.", "", "## Targets", "",
              "| target | measured | limit | met |", "|---|---|---|---|"]  # fmt: skip
    for name, value, limit, met in targets(frame):
        verdict = {True: "yes", False: "**no**", None: "-"}[met]
        lines.append(f"| {name} | {value} | <= {limit} | {verdict} |")
    lines += ["", "## All benchmarks", ""]
    for group, rows in frame.groupby("group", sort=True):
        lines += [f"### {group}", "", "| benchmark | median (ms) | IQR (ms) | rounds | peak MB |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for _, r in rows.sort_values("median").iterrows():
            peak = r.get("peak_mb")
            peak = f"{peak:.0f}" if isinstance(peak, float) and peak == peak else ""
            lines.append(f"| {r['name']} | {_ms(r['median'])} | {_ms(r['iqr'])} | "
                         f"{r['rounds']} | {peak} |")  # fmt: skip
        lines.append("")
    return "\n".join(lines)


def report(json_path: Path, out: Path | None = None) -> Path:
    """Write timing.md and scaling.png/.pdf for a pytest-benchmark JSON; returns the folder."""
    frame, machine = load(json_path)
    out = results.prepare_run_dir(Path(out) if out else Path(json_path).parent)
    results.write_text(out / "timing.md", markdown(frame, machine))
    plots.scaling(frame, out / "scaling")
    return out
