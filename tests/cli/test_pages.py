"""The results pages (`wae-bench report`, `wae-bench view`): written from the results table
with one local copy of plotly.js and no address of another host; every name from a folder
escaped; bad folders are one-line errors and leave no page. tests/cli/test_pages_browser.py
opens them in headless Chromium."""

import json
import re
import shutil

from wae_bench import page_html
from wae_bench.cli import main
from wae_bench.lock import RunLock

from tests.helpers.pages import FOLDER_NAME, FOLDERS


def test_view_writes_the_index_each_folder_page_and_one_plotly_copy(page_site):
    site = page_site
    pages = sorted(p.parent.name for p in site.rglob("index.html"))
    assert pages == sorted([site.name, *FOLDERS])
    copies = list(site.rglob(page_html.PLOTLY))
    assert copies == [site / page_html.STATIC / page_html.PLOTLY]
    assert copies[0].read_bytes() == page_html.plotly_source().read_bytes()
    for name in FOLDERS:
        text = (site / name / "index.html").read_text()
        assert '<script src="../_static/plotly.min.js">' in text
        assert "://" not in text  # no address of any host, not even a CDN's
        assert len(text) < 200_000
    index = (site / "index.html").read_text()
    assert "://" not in index and "<script src=" not in index  # tables only
    for name in ("latent", "study", "sweep", "tune"):
        assert f'href="{name}/index.html"' in index


def test_a_name_from_the_folder_is_escaped_text_everywhere(page_site):
    text = (page_site / FOLDER_NAME / "index.html").read_text()
    assert text.count("<script") == 3  # plotly.js, the figures' JSON, the page's own script
    assert "alert(1)</script>" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # the table, the verdicts
    assert "&quot; onload=&quot;alert(1)" in text
    figures = re.search(r'<script type="application/json" id="wae-figures">(.*?)</script>', text,
                        re.S).group(1)  # fmt: skip
    assert "<" not in figures and ">" not in figures and "&" not in figures
    names = {t["name"] for f in json.loads(figures) for t in f["data"]}
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in names  # plotly.js shows it as text
    index = (page_site / "index.html").read_text()
    assert "<img src=x" not in index and "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E" in index


def test_a_page_shows_every_section_of_its_folder(page_site):
    tune = (page_site / "tune" / "index.html").read_text()
    for part in ("tune-best", "tune-params-0", "tune-final", "Verdicts (tuned against default",
                 'href="trials.csv"', 'href="final.csv"', "Provenance"):  # fmt: skip
        assert part in tune
    image = (page_site / "image" / "index.html").read_text()
    assert '<img loading="lazy" src="visuals/moca_lam1.png"' in image
    study = (page_site / "study" / "index.html").read_text()
    assert "dim4_batch16" in study and "dim8_batch16" in study
    sweep = (page_site / "sweep" / "index.html").read_text()
    assert "swd.L=10" in sweep and "swd.L=20" in sweep


def test_report_also_writes_the_page_and_reuses_the_plotly_copy_above(page_site, tmp_path,
                                                                      capsys):  # fmt: skip
    shutil.copytree(page_site / "latent", page_site / "again",
                    ignore=shutil.ignore_patterns("index.html"))  # fmt: skip
    assert main(["report", str(page_site / "again")]) == 0
    assert "index.html" in capsys.readouterr().out
    assert not (page_site / "again" / page_html.STATIC).exists()
    text = (page_site / "again" / "index.html").read_text()
    assert '"../_static/plotly.min.js"' in text
    assert '<a href="../index.html">all results</a>' in text  # the index beside _static
    shutil.rmtree(page_site / "again")


def test_report_puts_plotly_in_the_results_root_else_in_the_folder(page_site, tmp_path):
    shutil.copytree(page_site / "sweep", tmp_path / "results" / "sweeps" / "tiny",
                    ignore=shutil.ignore_patterns("index.html"))  # fmt: skip
    assert main(["report", str(tmp_path / "results" / "sweeps" / "tiny")]) == 0
    assert list(tmp_path.rglob(page_html.PLOTLY)) == [
        tmp_path / "results" / page_html.STATIC / page_html.PLOTLY]
    text = (tmp_path / "results" / "sweeps" / "tiny" / "index.html").read_text()
    assert '"../../_static/plotly.min.js"' in text
    assert "all results" not in text  # no index page there to link to
    shutil.copytree(page_site / "study", tmp_path / "elsewhere",
                    ignore=shutil.ignore_patterns("index.html"))  # fmt: skip
    assert main(["report", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / page_html.STATIC / page_html.PLOTLY).is_file()


def error_of(capsys, *args) -> str:
    assert main(["view", *map(str, args)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("wae-bench: error: ")
    return err


def test_bad_input_is_one_line_and_writes_no_page(page_site, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert "holds no wae-bench run folder" in error_of(capsys, tmp_path / "empty")
    (tmp_path / "a-file").write_text("")
    assert "is a file" in error_of(capsys, page_site / "latent", "--out", tmp_path / "a-file")
    folder = tmp_path / "damaged"
    shutil.copytree(page_site / "latent", folder, ignore=shutil.ignore_patterns("index.html"))
    text = (folder / "curves.csv").read_text()
    (folder / "curves.csv").write_text(text[: len(text) // 2])
    err = error_of(capsys, folder)
    assert "curves.csv in" in err and "is damaged (the last line is cut off)" in err
    (folder / "curves.csv").write_text(text)
    with RunLock(folder):
        assert "is still being written" in error_of(capsys, folder)
    assert not (folder / "index.html").exists()
    trials = tmp_path / "tune"
    shutil.copytree(page_site / "tune", trials, ignore=shutil.ignore_patterns("index.html"))
    (trials / "trials.csv").write_text("method,trial,default\nswd,0\n")
    assert "trials.csv in" in error_of(capsys, trials)
    assert not list(tmp_path.rglob("index.html"))
