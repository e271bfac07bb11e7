"""How each regularizer scales with the latent dimension (and the batch size).

`wae-bench latent --latent-dims 8,32,128,512 [--batch-sizes 64,256]` runs the latent task
once per (dimension, batch size) into `dim<d>_batch<b>/` (``LatentTask.sub_runs``), then
writes `summary.csv`, `summary.md` and `study.png/.pdf` at the top, whose config.json lists
the sub-runs. The data
dimension and hidden width scale with d at the paper's ratios (100 / 128 and 2): with a fixed
input of 100 the codes at d = 512 would lie on a 100-dimensional manifold, and the study
would measure the encoder's rank instead of the regularizer. Each dimension has its own noise
floor (two prior sets of as many points).
"""

import dataclasses
from pathlib import Path

import pandas as pd

from ... import folders, table_rows, table_text
from ... import summary as summaries
from .report import first_within_floor


def sub_configs(cfg) -> dict[str, object]:
    """{folder name: the latent config of one (dimension, batch size)}."""
    dims = cfg.latent_dims or [cfg.latent_dim]
    sizes = cfg.batch_sizes or [cfg.batch_size]
    subs = {}
    for d in dims:
        for b in sizes:
            name = f"dim{d}_batch{b}"
            subs[name] = dataclasses.replace(
                cfg, latent_dim=d, batch_size=b, data_dim=max(2, round(d * 100 / 128)),
                hidden_dim=2 * d, latent_dims=[], batch_sizes=[],
            ).validate()  # fmt: skip
    return subs


def collect(task, out: Path) -> pd.DataFrame:
    """One row per (dimension, batch size, method, seed): final SWD / floor, time to floor."""
    rows = []
    for name in folders.read_config(out).get("study", []):
        run_cfg = folders.read_config(out / name).get("config", {})
        curves = table_rows.read_wide(out / name, task.results.file, task.results.columns)
        last = int(curves["epoch"].max())
        for (method, seed), run in curves.groupby(["method", "seed"], sort=False):
            final = run[run["epoch"] == last].iloc[0]
            reached = first_within_floor(run)
            rows.append({
                "latent_dim": run_cfg["latent_dim"], "batch_size": run_cfg["batch_size"],
                "method": method, "seed": seed, "final_swd": final["swd"],
                "noise_floor": final["noise_floor"],
                "final_over_floor": final["swd"] / final["noise_floor"],
                "epochs_to_floor": reached[0] if reached else float("nan"),
                "seconds_to_floor": reached[1] if reached else float("nan"),
            })  # fmt: skip
    return pd.DataFrame(rows)


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (batch size, dimension, method); floors reached."""
    keys = ["batch_size", "latent_dim", "method"]
    grouped = frame.groupby(keys, sort=False)
    summary = grouped.agg(
        seeds=("seed", "nunique"), noise_floor=("noise_floor", "mean"),
        ratio_mean=("final_over_floor", "mean"), ratio_std=("final_over_floor", "std"),
        reached=("epochs_to_floor", "count"),
        epochs_mean=("epochs_to_floor", "mean"), epochs_std=("epochs_to_floor", "std"),
        seconds_mean=("seconds_to_floor", "mean"), seconds_std=("seconds_to_floor", "std"),
    )  # fmt: skip
    return summary.reset_index()


def markdown(summary: pd.DataFrame, frame: pd.DataFrame, epochs: int) -> str:
    """One table per batch size: rows are methods, and per dimension the final SWD / floor
    with its interval; then the verdicts against the reference method of each cell, all
    cells one family."""
    lines = [
        f"Final latent SWD / noise floor after {epochs} epochs (1.00 = indistinguishable from "
        "the prior), mean [95% interval] over seeds; in brackets the epochs to 1.1 x floor "
        "(mean ± std over the seeds that reached it). Lower is better.",
        "",
    ]
    cells = {(batch, d): (frame[(frame["batch_size"] == batch) & (frame["latent_dim"] == d)],
                          f"at B = {batch}, d = {d}")
             for batch, d in summary[["batch_size", "latent_dim"]].itertuples(index=False)}
    judged = summaries.compare_family(cells, ["method"], "final_over_floor",
                                      label="SWD / floor")  # fmt: skip
    for batch, part in summary.groupby("batch_size", sort=False):
        dims = list(dict.fromkeys(part["latent_dim"]))
        lines += [f"**batch size {batch}**", "",
                  table_text.markdown_row(["method", *(f"d = {d}" for d in dims)]),
                  "|" + "---|" * (len(dims) + 1)]  # fmt: skip
        for method, rows in part.groupby("method", sort=False):
            row_cells = [method]
            for d in dims:
                r = rows[rows["latent_dim"] == d].iloc[0]
                cell = summaries.cell(summaries.row_of(judged[(batch, d)][0], method))
                if r["reached"]:
                    cell += (f" ({table_text.mean_std(r['epochs_mean'], r['epochs_std'], 0)} ep, "
                             f"{int(r['reached'])}/{int(r['seeds'])})")  # fmt: skip
                row_cells.append(cell)
            lines.append(table_text.markdown_row(row_cells))
        floor = part.groupby("latent_dim")["noise_floor"].first()
        floors = ", ".join(f"d = {d}: {floor[d]:.4f}" for d in dims)
        lines += ["", f"Noise floors: {floors}.", ""]
    reference = summaries.reference_group(next(iter(judged.values()))[0])
    lines += summaries.verdict_section(judged,
                                       f"Verdicts (each cell's methods against {reference})")
    return "\n".join(lines) + "\n"


def report(task, out: Path, figures: bool = True) -> None:
    """(Re)write summary.csv, summary.md and, with ``figures``, study.png/.pdf from the
    sub-runs' curves."""
    frame = collect(task, out)
    summary = summarize(frame)
    epochs = folders.read_config(out)["config"]["epochs"]
    folders.write_summary(out, summary, markdown(summary, frame, epochs))
    if figures:
        from .figures import study_figure  # matplotlib only when a figure is drawn

        study_figure(summary, out / "study", epochs)
