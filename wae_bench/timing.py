"""`wae-bench timing FILE.json`: pytest-benchmark JSON -> timing.md and scaling.png.

Each benchmark in benchmarks/ tags itself with ``extra_info`` (role, device, method, batch,
...); this module reads only those tags and the statistics, so it needs nothing else from the
run. CPU and CUDA rows are reported side by side (a device column); the GPU targets
are listed in every report, as "not measured (no CUDA in this run)" when CUDA was absent.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import plots, run_files
from .errors import UsageError
from .gpu_targets import A2_METHODS, LATENT_STEP_MS, LIMITS, STEPS_PER_EPOCH


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
    # runs from before benchmarks had a device ran on the CPU only
    frame["device"] = frame["device"].fillna("cpu") if "device" in frame else "cpu"
    return frame, raw.get("machine_info", {})


NO_CUDA = "not measured (no CUDA in this run)"
# the GPU targets' limits are in gpu_targets.py (the GPU check reads the same table)
FIXED_COST_RATIO = 1.5  # a command's time / the time to import torch (CPU)
# tags that pick a training step's default configuration on CUDA (graphs on, float32)
STEP_DEFAULTS = {"cpu": {}, "cuda": {"graphs": True, "amp": "fp32"}}
STEP_ROLES = ("latent_epoch", "fashion_epoch", "latent_step", "image_step", "a2_step")


@dataclass
class Verdict:
    """A target's row of timing.md: what, on which device, the value measured, the limit and
    whether it was met."""

    name: str
    device: str
    measured: str
    limit: str
    met: bool | None  # None: not measured


def _matching(frame: pd.DataFrame, **tags) -> pd.DataFrame:
    """The benchmarks with these tags. A training step on CUDA is taken in its default
    configuration (graphs on, float32) unless the tags say otherwise."""
    if tags.get("role") in STEP_ROLES and tags.get("variant") != "bare":
        tags = {**STEP_DEFAULTS.get(tags.get("device"), {}), **tags}
    mask = pd.Series(True, index=frame.index)
    for key, value in tags.items():
        mask &= frame.get(key) == value
    return frame.loc[mask]


def _one(frame: pd.DataFrame, **tags) -> float:
    """Median of the first benchmark with these tags (NaN if none)."""
    hits = _matching(frame, **tags)["median"]
    return float(hits.iloc[0]) if len(hits) else float("nan")


def _paired(frame: pd.DataFrame, unpaired: float, **tags) -> float:
    """The ratio the first benchmark with these tags took round by round (its extra_info
    ``ratio``: the median over rounds of its time over what ran just before it), else
    ``unpaired``, a ratio of two benchmarks' medians."""
    hits = _matching(frame, **tags)
    paired = hits["ratio"].dropna() if "ratio" in hits else hits.iloc[:0]
    return float(paired.iloc[0]) if len(paired) else unpaired


def _devices(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["device"].unique(), key=lambda d: (d != "cpu", d))


def verdicts(frame: pd.DataFrame) -> list[Verdict]:
    """Each target of the performance issue: the device-independent ones for every device
    in the run, the CPU-only ones, and the GPU targets (listed even when CUDA was absent)."""
    out: list[Verdict] = []

    def add(name, device, value, limit, fmt="{:.2f}x", at_least=False, missing="not measured"):
        met = None if value != value else value >= limit if at_least else value <= limit
        out.append(Verdict(name, device, missing if met is None else fmt.format(value),
                          (">= " if at_least else "<= ") + fmt.format(limit), met))  # fmt: skip

    for device in _devices(frame):
        rows = frame[frame["device"] == device]
        add("latent epoch: harness / bare loop", device,
            _one(rows, role="latent_epoch", variant="harness", device=device) /
            _one(rows, role="latent_epoch", variant="bare", device=device), 1.1)  # fmt: skip
        harness = {"role": "fashion_epoch", "variant": "harness", "device": device}
        fashion_epoch = _one(rows, **harness)
        bare = _one(rows, role="fashion_epoch", variant="bare", device=device)
        add("Fashion-MNIST epoch: harness / bare loop", device,
            _paired(rows, fashion_epoch / bare, **harness), 1.1)  # fmt: skip
        swd = {"role": "image_swd_fashion", "n": 10_000}
        add("an evaluation's image SWD of 10,000 Fashion-MNIST images / one epoch", device,
            _paired(rows, _one(rows, **swd) / fashion_epoch, **swd), 1.0)  # fmt: skip
        image_steps = rows[rows.get("role") == "image_step"]  # none in a partial run
        for setting in image_steps.get("setting", pd.Series(dtype=object)).dropna().unique():
            add(f"image step ({setting}): moca / plain autoencoder", device,
                _one(rows, role="image_step", method="moca", setting=setting, device=device) /
                _one(rows, role="image_step", method="plain", setting=setting, device=device),
                1.3)  # fmt: skip
        pot = rows[rows["method"] == "pot-swd"] if "method" in rows else rows.iloc[:0]
        for batch in sorted(pot.get("batch", pd.Series(dtype=float)).dropna().unique()):
            add(f"swd / POT sliced_wasserstein_distance, B={int(batch)}", device,
                _one(rows, role="regularizer", method="swd", batch=batch) /
                _one(rows, role="regularizer", method="pot-swd", batch=batch), 1.0)  # fmt: skip
        add("image SWD, N=10,000 32x32x3 (seconds)", device,
            _one(rows, role="image_swd", n=10_000), LIMITS["image_swd_s"],
            "{:.1f} s")  # fmt: skip
        metric = rows[(rows.get("role") == "image_swd") & (rows.get("n") == 10_000)]
        if "peak_mb" in metric and len(metric):
            add("image SWD, N=10,000: peak memory", device,
                float(metric["peak_mb"].iloc[0]) / 1024, LIMITS["image_swd_peak"],
                "{:.2f} GB")  # fmt: skip
        for _, row in rows[rows.get("role") == "memory"].iterrows():
            if row["batch"] == 8192:
                add(f"{row['method']} at B=8192: peak memory", device, row["peak_mb"] / 1024,
                    24.0, "{:.2f} GB")  # fmt: skip
    cpu = frame[frame["device"] == "cpu"]
    for shape in ("1000x1000", "256x50"):
        add(f"sort {shape}: numpy / torch.sort", "cpu",
            _one(cpu, role="sort", impl="numpy", shape=shape) /
            _one(cpu, role="sort", impl="torch", shape=shape), 1.0)  # fmt: skip
    fixed = cpu[cpu["role"] == "fixed_cost"]
    ratio = float("nan")
    if len(fixed):
        row = fixed.iloc[0]
        ratio = row.get("ratio", float("nan"))
        if ratio != ratio and "command_s" in row and "import_torch_s" in row:
            ratio = row["command_s"] / row["import_torch_s"]
    add("fixed cost: command / import torch", "cpu", float(ratio), FIXED_COST_RATIO)
    tuned = cpu[cpu["role"] == "tune_overhead"]
    add("tune of one method / its training runs", "cpu",
        float(tuned["ratio"].iloc[0]) if len(tuned) else float("nan"), 1.1)  # fmt: skip
    out += cuda_verdicts(frame)
    return out


def cuda_verdicts(frame: pd.DataFrame) -> list[Verdict]:
    """The GPU targets from the CUDA rows (graphs on: the default path on CUDA), with the
    limits of the one table the GPU check reads too (gpu_targets.py)."""
    out: list[Verdict] = []
    cuda = frame[frame["device"] == "cuda"]
    missing = "not measured" if len(cuda) else NO_CUDA

    def add(name, value, limit, fmt, at_least=False):
        met = None if value != value else value >= limit if at_least else value <= limit
        out.append(Verdict(name, "cuda", missing if met is None else fmt.format(value),
                          (">= " if at_least else "<= ") + fmt.format(limit), met))  # fmt: skip

    for method, limit in LATENT_STEP_MS.items():
        add(f"latent step (MLP, B=64, graphs), {method} (ms)",
            _one(cuda, role="latent_step", method=method, device="cuda") * 1e3, limit,
            "{:.3g} ms")  # fmt: skip
    for amp in ("fp32", "bf16"):
        steps = {m: _one(cuda, role="a2_step", method=m, device="cuda", amp=amp)
                 for m in A2_METHODS}  # fmt: skip
        for method in ("plain", "mmd"):
            add(f"A2 32x32x3 B=64 epoch ({STEPS_PER_EPOCH} x step, graphs, {amp}), {method}",
                steps[method] * STEPS_PER_EPOCH, LIMITS[f"a2_epoch_{method}"],
                "{:.2f} s")  # fmt: skip
        add(f"A2 step (graphs, {amp}): moca / plain", steps["moca"] / steps["plain"],
            LIMITS["a2_epoch_moca_over_plain"], "{:.2f}x")  # fmt: skip
    for method in A2_METHODS:
        add(f"A2 step (graphs), {method}: fp32 / bf16 (bf16 speed-up)",
            _one(cuda, role="a2_step", method=method, device="cuda", amp="fp32") /
            _one(cuda, role="a2_step", method=method, device="cuda", amp="bf16"),
            LIMITS[f"bf16_speedup_{method}"], "{:.2f}x", at_least=True)  # fmt: skip
    return out


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g}"


def markdown(frame: pd.DataFrame, machine: dict) -> str:
    """timing.md: the machine, the targets (measured vs limit) and every benchmark's median."""
    lines = ["# Timing", ""]
    cpu = machine.get("cpu", {}).get("brand_raw") or machine.get("processor") or "unknown CPU"
    gpu = machine.get("cuda") or {}
    gpu = (f"GPU: {gpu.get('device', '?')} (CUDA {gpu.get('version', '?')})" if gpu
           else "GPU: none (no CUDA in this run)")  # fmt: skip
    torch_version = f", torch {machine['torch']}" if machine.get("torch") else ""
    lines += [f"Machine: {cpu}, {machine.get('cpu', {}).get('count', '?')} cores; {gpu}; "
              f"Python {machine.get('python_version', '?')}{torch_version}. Medians of "
              "pytest-benchmark rounds; ratios are from this one run. On CUDA every timed call "
              "ends with torch.cuda.synchronize() (launch overhead + GPU work), and training "
              "steps are taken with CUDA graphs in float32 unless a target says otherwise.",
              "", "## Targets", "",
              "| target | device | measured | limit | met |", "|---|---|---|---|---|"]  # fmt: skip
    for t in verdicts(frame):
        verdict = {True: "yes", False: "**no**", None: "-"}[t.met]
        lines.append(f"| {t.name} | {t.device} | {t.measured} | {t.limit} | {verdict} |")
    lines += ["", "## All benchmarks", ""]
    for group, rows in frame.groupby("group", sort=True):
        lines += [f"### {group}", "",
                  "| benchmark | device | median (ms) | IQR (ms) | rounds | peak MB |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for _, r in rows.sort_values("median").iterrows():
            peak = r.get("peak_mb")
            peak = f"{peak:.0f}" if isinstance(peak, float) and peak == peak else ""
            lines.append(f"| {r['name']} | {r['device']} | {_ms(r['median'])} | "
                         f"{_ms(r['iqr'])} | {r['rounds']} | {peak} |")  # fmt: skip
        lines.append("")
    return "\n".join(lines)


def report(json_path: Path, out: Path | None = None) -> Path:
    """Write timing.md and scaling.png/.pdf (CPU; scaling_cuda.png/.pdf too when the run has
    CUDA rows) for a pytest-benchmark JSON; returns the folder."""
    frame, machine = load(json_path)
    out = run_files.prepare_run_dir(Path(out) if out else Path(json_path).parent)
    run_files.write_text(out / "timing.md", markdown(frame, machine))
    cpu, cuda = frame[frame["device"] == "cpu"], frame[frame["device"] == "cuda"]
    if (cpu.get("role") == "regularizer").any():
        plots.scaling(cpu, out / "scaling")
    if (cuda.get("role") == "regularizer").any():
        plots.scaling(cuda, out / "scaling_cuda")
    if frame["role"].isin(["fashion_epoch", "image_swd_fashion"]).any():
        fashion_figure(frame, out / "fashion_epoch")
    return out


FASHION_BARS = (  # (label, color, tags) of the bars of fashion_figure, top to bottom
    ("bare PyTorch loop", "C2", {"role": "fashion_epoch", "variant": "bare"}),
    ("through the harness", "C0", {"role": "fashion_epoch", "variant": "harness"}),
    ("image SWD, 10,000 images:\none evaluation", "C7",
     {"role": "image_swd_fashion", "n": 10_000}),
    ("the test images' side,\nonce per seed", "0.8",
     {"role": "image_swd_fashion_reference", "n": 10_000}),
)


def fashion_figure(frame: pd.DataFrame, stem: Path) -> None:
    """One Fashion-MNIST epoch through the harness and as a bare loop, an evaluation's image
    SWD of 10,000 images and its once-per-seed preparation, in seconds: one panel per device
    measured."""
    devices = _devices(frame)
    fig, axes = plots.plt.subplots(1, len(devices), figsize=(6.8 * len(devices), 3.4),
                                   squeeze=False)  # fmt: skip
    for ax, device in zip(axes[0], devices, strict=True):
        seconds = [_one(frame, device=device, **tags) for *_, tags in FASHION_BARS]
        labels, colors = zip(*((label, color) for label, color, _ in FASHION_BARS), strict=True)
        ax.barh(labels[::-1], seconds[::-1], color=colors[::-1])
        for y, value in enumerate(seconds[::-1]):
            text = "not measured" if value != value else f"{value:.1f} s"
            ax.text(0 if value != value else value, y, f" {text}", va="center", fontsize=9)
        ax.set_xlabel("seconds (median)")
        ax.set_title(f"Fashion-MNIST on {device}: one epoch of 60,000 images (conv,\n"
                     "B = 64, MMD) and the image SWD of 10,000 images", fontsize=10)
        ax.set_xlim(0, 1.25 * max((v for v in seconds if v == v), default=1.0))
    fig.tight_layout()
    plots.save(fig, stem)
