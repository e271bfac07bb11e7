"""`plots.curves`, every task's curves from the long rows: each group's line is its mean over
seeds, its band the 95% Student t interval (scipy, not the module's arithmetic), x the epoch
or the mean seconds; one seed draws no band; no text goes through matplotlib's mathtext."""

import matplotlib.colors
import matplotlib.mathtext
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import regularizers
from wae_bench import methods, page_figures, plots
from wae_bench.plots import Panel

SEEDS, EPOCHS = 3, 4


def long_rows(seeds: int = SEEDS) -> pd.DataFrame:
    """moca and mmd (no lam), swd falling with the epoch, noise per seed, seconds per epoch."""
    rng = np.random.default_rng(0)
    rows = []
    for method, scale in (("moca", 1.0), ("mmd", 2.0)):
        for seed in range(seeds):
            for epoch in range(EPOCHS):
                swd = scale / (epoch + 1) * (1 + 0.2 * rng.standard_normal())
                rows += [(method, np.nan, seed, epoch, "swd", swd),
                         (method, np.nan, seed, epoch, "seconds", epoch * (0.5 + 0.1 * seed))]
    return pd.DataFrame(rows, columns=["method", "lam", "seed", "epoch", "metric", "value"])


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """draw(rows, panels) -> the figure plots.curves saved (kept open to be read)."""
    figures = []
    monkeypatch.setattr(plots, "save", lambda fig, stem, pdf=True: figures.append(fig))

    def draw(rows, panels):
        plots.curves(rows, panels, tmp_path / "c", title="Title\nsetting",
                     floors={"swd": (0.05, "floor")})  # fmt: skip
        return figures[-1]

    yield draw
    for fig in figures:
        plots.plt.close(fig)


def band_edges(collection, x) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) y of a fill_between polygon at each of ``x``."""
    vertices = collection.get_paths()[0].vertices
    at = [vertices[np.isclose(vertices[:, 0], xi), 1] for xi in x]
    return np.array([v.min() for v in at]), np.array([v.max() for v in at])


def test_line_is_the_mean_and_band_the_t_interval_against_epoch_and_seconds(drawn):
    rows = long_rows()
    fig = drawn(rows, [Panel("swd", "SWD"), Panel("swd", "SWD", "seconds", "s")])
    by_epoch, by_seconds = fig.axes[:2]
    t = stats.t.ppf(0.975, SEEDS - 1)
    for index, method in enumerate(("moca", "mmd")):
        swd = rows[(rows.method == method) & (rows.metric == "swd")].pivot(
            index="epoch", columns="seed", values="value")  # fmt: skip
        mean, half = swd.mean(axis=1).to_numpy(), t * swd.std(axis=1).to_numpy() / SEEDS**0.5
        seconds = rows[(rows.method == method) & (rows.metric == "seconds")]
        seconds = seconds.groupby("epoch")["value"].mean().to_numpy()
        for ax, x in ((by_epoch, np.arange(EPOCHS)), (by_seconds, seconds)):
            line = ax.lines[index]
            assert line.get_label() == method
            np.testing.assert_allclose(line.get_xdata(), x, rtol=1e-12)
            np.testing.assert_allclose(line.get_ydata(), mean, rtol=1e-12)
            lowest, highest = band_edges(ax.collections[index], x)
            np.testing.assert_allclose(highest, mean + half, rtol=1e-12)
            # a log axis draws the band down to a twentieth of the mean at most
            np.testing.assert_allclose(lowest, np.maximum(mean - half, mean / 20), rtol=1e-12)
    assert by_epoch.get_yscale() == by_seconds.get_yscale() == "log"
    assert by_epoch.get_shared_y_axes().joined(by_epoch, by_seconds)  # one metric, one y axis
    assert by_epoch.lines[-1].get_label() == "floor" and by_epoch.lines[-1].get_ydata()[0] == 0.05
    assert fig._suptitle.get_text() == "Title (mean and 95% interval over 3 seeds)\nsetting"


def test_one_seed_draws_the_mean_without_a_band(drawn):
    fig = drawn(long_rows(seeds=1), [Panel("swd", "SWD", log=False, limits=(0.0, 5.0))])
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear" and ax.get_ylim() == (0.0, 5.0)
    assert len(ax.lines[0].get_ydata()) == EPOCHS
    band = ax.collections[0].get_paths()
    assert not band or not np.isfinite(band[0].vertices).all(axis=1).any()
    assert "(1 seed, no interval)" in fig._suptitle.get_text()


def test_groups_of_a_method_at_several_lams_share_its_color_with_their_own_style(drawn):
    rows = long_rows()
    rows = pd.concat([rows.assign(lam=10.0), rows.assign(lam=100.0)], ignore_index=True)
    ax = drawn(rows, [Panel("swd", "SWD")]).axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    moca_10, moca_100 = lines["moca, λ = 10"], lines["moca, λ = 100"]
    assert moca_10.get_color() == moca_100.get_color() != lines["mmd, λ = 10"].get_color()
    assert moca_10.get_linestyle() != moca_100.get_linestyle()


def test_log_axes_and_labels_never_build_the_mathtext_parser(monkeypatch, tmp_path):
    # the parser costs about 0.3 s to build: a run's figure must not need it
    monkeypatch.setattr(matplotlib.mathtext.MathTextParser, "_parser", None)
    plots.curves(long_rows(), [Panel("swd", "latent SWD (SW₂)")], tmp_path / "c", title="T")
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")
    assert matplotlib.mathtext.MathTextParser._parser is None


def test_a_method_has_one_color_in_figures_and_pages():
    for name in regularizers.available():
        index = methods.color_index(name, 0)
        assert index == regularizers.available().index(name)
        page = page_figures.COLORS[index % 10]
        assert matplotlib.colors.to_hex(plots.method_color(name, 0)) == page
    assert methods.color_index("pot-swd", 3) == 3  # a library reference keeps its place


def test_a_sweep_figure_draws_the_mean_and_its_t_interval(monkeypatch, tmp_path):
    figures = []
    monkeypatch.setattr(plots, "save", lambda fig, stem, pdf=True: figures.append(fig))
    rng = np.random.default_rng(1)
    frame = pd.DataFrame([{"method": "moca", "seed": s, "moca.tau": tau, "status": "finished",
                           "image_swd": tau + rng.standard_normal()}
                          for tau in (0.1, 0.5) for s in range(SEEDS)])  # fmt: skip
    plots.sweep_axis(frame, "moca.tau", "image_swd", "image SWD", tmp_path / "s")
    ax = figures[-1].axes[0]
    segments = ax.collections[0].get_segments()  # one vertical error bar per value
    t = stats.t.ppf(0.975, SEEDS - 1)
    for (low, high), (_, values) in zip(segments, frame.groupby("moca.tau")["image_swd"],
                                        strict=True):  # fmt: skip
        half = t * values.std() / np.sqrt(len(values))
        assert low[1] == pytest.approx(values.mean() - half) and high[1] == pytest.approx(
            values.mean() + half)  # fmt: skip
    assert "95% t interval" in ax.get_title()
    plots.plt.close(figures[-1])
