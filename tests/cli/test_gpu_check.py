"""The prepared GPU check (benchmarks/gpu_check.sh) in its small mode: it runs end to end on a
CPU-only machine, writes one Markdown + JSON summary holding every target row, keeps its logs
and the CUDA tests' JUnit XML, and keeps each section within its own time budget."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import torch

import regularizers
from benchmarks.gpu_check import check as check_module
from benchmarks.gpu_check import cli, plan, sections, summary

REPO = Path(__file__).resolve().parents[2]


def test_small_check_writes_summaries_logs_and_junit_with_every_target(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--small",
                           "--out", str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    progress = [line for line in done.stdout.splitlines() if line.startswith("[")]
    assert len(progress) == len(sections.SECTIONS) and all(" ok (" in p for p in progress)
    stem = "gpu_check_small" if torch.cuda.is_available() else "gpu_check_cpu"
    result = json.loads((tmp_path / f"{stem}.json").read_text())
    text = (tmp_path / f"{stem}.md").read_text()
    assert result["mode"] == "small" and result["failed_sections"] == [] and result["finished"]
    assert [t["key"] for t in result["targets"]] == [t.key for t in plan.TARGETS]
    for target in result["targets"]:
        assert f"| {target['target']} | {target['measured']} | {target['limit']} |" in text
        assert target["ok"] is None  # small mode judges nothing
    for i, (title, _) in enumerate(sections.SECTIONS, 1):
        assert f"## {i}. {title}\n\nok, " in text
    logs = tmp_path / f"{stem}_logs"
    assert (logs / "check.log").read_text().splitlines()[1:-1] == progress
    for entry in result["sections"]:  # one log per section, opening with its status
        assert (logs / entry["log"]).read_text().startswith(f"{entry['title']}: ok, ")
    for name in ("cuda_tests.log", "latent_cpu.log", "image.log"):
        assert "$ python -m " in (logs / name).read_text()
    cases = list(ElementTree.parse(logs / "cuda_tests.xml").getroot().iter("testcase"))
    tests = next(s for s in result["sections"] if s["title"] == "CUDA tests")["rows"][0]
    assert len(cases) == sum(tests[k] for k in ("passed", "skipped", "failed", "error")) > 0
    assert (logs / "runs" / "latent_cpu" / "curves.csv").exists()
    assert (logs / "runs" / "image" / "metrics.csv").exists()
    assert not list(logs.glob("runs/*/checkpoints"))  # outputs kept, checkpoints left out
    if not torch.cuda.is_available():
        assert "NOT a GPU measurement" in text and tests["skipped"] > 0
        assert all(t["measured"].startswith("not measured: no CUDA") for t in result["targets"])
        steps = next(s for s in result["sections"] if s["title"] == "per-step times")
        cpu = [r for r in steps["rows"] if r["device"] == "cpu"]
        assert len(cpu) == len(regularizers.available()) + 3
        assert all(float(r["ms / step (median)"]) > 0 for r in cpu)
        assert {r["ms / step (median)"] for r in steps["rows"] if r["device"] == "cuda"} == {
            "no CUDA"
        }


def test_a_failing_section_is_recorded_and_the_summary_is_written_after_each(
    tmp_path, monkeypatch, capsys
):
    def broken(check, section):
        raise RuntimeError("the GPU caught fire")

    def reads_the_summary_so_far(check, section):
        so_far = json.loads((tmp_path / "s.json").read_text())
        section.rows.append({"finished": so_far["finished"], "done": len(so_far["sections"])})

    fake = [("machine", broken), ("CUDA tests", reads_the_summary_so_far)]
    monkeypatch.setattr(sections, "SECTIONS", fake)
    assert cli.main(["--small", "--out", str(tmp_path), "--stem", "s"]) == 1
    out = capsys.readouterr().out
    assert "[1/2] machine ... failed" in out and "[2/2] CUDA tests ... ok" in out
    result = json.loads((tmp_path / "s.json").read_text())
    assert result["failed_sections"] == ["machine"] and result["finished"]
    assert "the GPU caught fire" in result["sections"][0]["error"]
    assert result["sections"][1]["rows"] == [{"finished": False, "done": 1}]
    text = (tmp_path / "s.md").read_text()
    assert "RuntimeError: the GPU caught fire" in text and "sections failed: machine" in text
    log = (tmp_path / "s_logs" / result["sections"][0]["log"]).read_text()
    assert "Traceback (most recent call last)" in log and "in broken" in log
    first = (tmp_path / "s_logs" / "check.log").read_text()
    assert cli.main(["--small", "--out", str(tmp_path), "--stem", "s"]) == 1  # again
    kept = [p for p in tmp_path.glob("s_logs.*") if (p / "check.log").read_text() == first]
    assert len(kept) == 1  # the first run's logs renamed, not replaced


def test_a_missing_dependency_is_one_line_before_anything_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "geomloss", None)  # import geomloss raises ImportError
    monkeypatch.setitem(sys.modules, "ot", None)
    assert cli.main(["--small", "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1
    assert "geomloss, POT cannot be imported" in captured.err
    assert "pip install --no-index --find-links DIR geomloss POT" in captured.err
    assert not (tmp_path / "out").exists()


def test_a_slow_command_is_stopped_at_its_budget_and_keeps_its_junit(tmp_path, monkeypatch):
    tests = tmp_path / "test_slow.py"
    tests.write_text("import time\n\ndef test_quick():\n    pass\n\n"
                     "def test_slow():\n    time.sleep(120)\n")  # fmt: skip
    monkeypatch.setattr(sections, "CUDA_TESTS", (str(tests),))
    # long enough for pytest to start and run test_quick on a loaded machine before the stop
    budgets = {"machine": 1, "CUDA tests": 30}
    monkeypatch.setattr(check_module, "BUDGETS_S", budgets)
    left = []
    fake = [("CUDA tests", sections.cuda_tests), ("machine", lambda c, s: left.append(c.left()))]
    monkeypatch.setattr(sections, "SECTIONS", fake)
    # the check started in the background by a shell (`nohup`, `&`): SIGINT ignored, which its
    # commands would inherit; the stop at the budget must still let pytest write its XML
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    start = time.monotonic()
    try:
        status = cli.main(["--small", "--out", str(tmp_path), "--stem", "s"])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert status == 1
    assert time.monotonic() - start < 30 + 10  # the budget, and the check's own start
    result = json.loads((tmp_path / "s.json").read_text())
    run = result["sections"][0]
    assert run["status"] == "failed" and re.search(r"stopped at \d+ s, its share", run["error"])
    assert run["rows"][0]["passed"] == 1  # the JUnit XML written on SIGINT
    assert left[0] > 0.9  # the next section still had its whole budget


def test_targets_are_judged_only_on_a_full_run_and_say_why_not(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check = check_module.Check(small=False, logs=tmp_path)
    check.measure("latent_step_moca", 0.4)
    check.measure("latent_step_sinkhorn", 2.5)
    check.measure("bf16_speedup_plain", 1.6)
    check.measure("paper_protocol", 0.8, "0.80 h (extrapolated)")
    check.not_measured("latent_step_gan", "the section's 50 s budget was spent")
    done = [check_module.Section("CUDA tests", status="failed", error="TimeoutError: slow\n"),
            check_module.Section("per-step times")]  # fmt: skip
    rows = {r["key"]: r for r in summary.target_rows(check, done)}
    assert (rows["latent_step_moca"]["measured"], rows["latent_step_moca"]["met"]) == (
        "0.4 ms", "yes")  # fmt: skip
    assert rows["latent_step_sinkhorn"]["met"] == "**no**"
    assert rows["bf16_speedup_plain"]["limit"] == ">= 1.30x" and rows["bf16_speedup_plain"]["ok"]
    assert rows["paper_protocol"]["measured"] == "0.80 h (extrapolated)"
    assert rows["cuda_tests"]["measured"] == (
        "not measured: section 'CUDA tests' failed: TimeoutError: slow"
    )
    assert rows["latent_step_gan"]["measured"] == (
        "not measured: the section's 50 s budget was spent"
    )
    assert rows["latent_step_mmd"]["measured"] == (
        "not measured: section 'per-step times' recorded no value"
    )
    assert rows["image_swd_s"]["measured"] == (
        "not measured: the check stopped before section 'image SWD, N = 10,000'"
    )
    check.small = True  # the same values in small mode: shown, not judged
    rows = {r["key"]: r for r in summary.target_rows(check, [])}
    assert rows["latent_step_sinkhorn"]["met"] == "not judged (small mode)"
    check.tmp.rmdir()


def test_the_section_budgets_fit_six_minutes():
    assert list(plan.BUDGETS_S) == [title for title, _ in sections.SECTIONS]
    assert sum(plan.BUDGETS_S.values()) <= 330  # 30 s left of 6 min for Python and summaries
    assert plan.LATENT_CLI_CUDA_CAP_S < plan.BUDGETS_S["latent CLI wall time"]


def test_every_target_is_measured_by_a_section_of_the_check():
    """The table lives in the package (wae_bench/gpu_targets.py); each target's section is one
    that the check runs (the summary explains a missing value by that section)."""
    assert {t.section for t in plan.TARGETS} <= set(plan.BUDGETS_S)


COLLECT = """
import json, sys, pytest

class Items:
    def pytest_collection_finish(self, session):
        needs_cuda = [i.nodeid for i in session.items if any(
            "CUDA" in str(m.kwargs.get("reason", "")) for m in i.iter_markers("skipif"))]
        print("ITEMS " + json.dumps({"all": [i.nodeid for i in session.items],
                                     "cuda": needs_cuda}))

for args in json.loads(sys.argv[1]):  # one process: torch and the test modules load once
    pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *args], plugins=[Items()])
"""


def collected(*selections: list[str]) -> list[dict]:
    """For each selection (pytest's arguments), the test ids pytest collects from this
    repository with it, and those of them skipped for want of CUDA."""
    done = subprocess.run([sys.executable, "-c", COLLECT, json.dumps(selections)], cwd=REPO,
                          capture_output=True, text=True, check=True)  # fmt: skip
    lines = [x for x in done.stdout.splitlines() if x.startswith("ITEMS ")]
    assert len(lines) == len(selections), done.stdout[-2000:]
    return [json.loads(line[len("ITEMS "):]) for line in lines]


def test_the_check_runs_every_test_that_needs_cuda():
    everything, check = collected(["tests"], list(plan.CUDA_TESTS))
    needs_cuda, selected = set(everything["cuda"]), set(check["all"])
    assert len(needs_cuda) > 40  # the equality, capture, fallback and --jobs tests
    assert needs_cuda - selected == set()
