"""The prepared GPU check (benchmarks/gpu_check.sh) in its small mode: it runs end to end on a
CPU-only machine and writes one Markdown + JSON summary holding every target row."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

import regularizers
from benchmarks import gpu_check

REPO = Path(__file__).resolve().parents[1]


def test_small_check_writes_both_summaries_with_every_target(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--small",
                           "--out", str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    progress = [line for line in done.stdout.splitlines() if line.startswith("[")]
    assert len(progress) == len(gpu_check.SECTIONS) and all(" ok (" in p for p in progress)
    stem = "gpu_check_small" if torch.cuda.is_available() else "gpu_check_cpu"
    summary = json.loads((tmp_path / f"{stem}.json").read_text())
    text = (tmp_path / f"{stem}.md").read_text()
    assert summary["mode"] == "small" and summary["failed_sections"] == []
    assert [t["key"] for t in summary["targets"]] == [t.key for t in gpu_check.TARGETS]
    for target in summary["targets"]:
        assert f"| {target['target']} | {target['measured']} | {target['limit']} |" in text
        assert target["ok"] is None  # small mode judges nothing
    for i, (title, _) in enumerate(gpu_check.SECTIONS, 1):
        assert f"## {i}. {title}\n\nok, " in text
    if not torch.cuda.is_available():
        assert "NOT a GPU measurement" in text
        assert all(t["measured"] == "no CUDA" for t in summary["targets"])
        steps = next(s for s in summary["sections"] if s["title"] == "per-step times")
        cpu = [r for r in steps["rows"] if r["device"] == "cpu"]
        assert len(cpu) == len(regularizers.available()) + 3  # every latent method, 3 image
        assert all(float(r["ms / step (median)"]) > 0 for r in cpu)
        assert {r["ms / step (median)"] for r in steps["rows"] if r["device"] == "cuda"} == {
            "no CUDA"
        }


def test_a_failing_section_is_recorded_and_the_check_goes_on(tmp_path, monkeypatch, capsys):
    def broken(check, section):
        raise RuntimeError("the GPU caught fire")

    def fine(check, section):
        section.rows.append({"value": 1})

    monkeypatch.setattr(gpu_check, "SECTIONS", [("broken", broken), ("fine", fine)])
    assert gpu_check.main(["--small", "--out", str(tmp_path), "--stem", "s"]) == 1
    out = capsys.readouterr().out
    assert "[1/2] broken ... failed" in out and "[2/2] fine ... ok" in out
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["failed_sections"] == ["broken"]
    assert "the GPU caught fire" in summary["sections"][0]["error"]
    assert summary["sections"][1]["rows"] == [{"value": 1}]
    text = (tmp_path / "s.md").read_text()
    assert "RuntimeError: the GPU caught fire" in text and "sections failed: broken" in text


def test_targets_are_judged_only_on_a_full_cuda_run(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check = gpu_check.Check(small=False)
    check.measure("latent_step_moca", 0.4)
    check.measure("latent_step_sinkhorn", 2.5)
    check.measure("bf16_speedup_plain", 1.6)
    check.measure("paper_protocol", 0.8, "0.80 h (extrapolated)")
    failed = gpu_check.Section("CUDA tests", status="failed")
    rows = {r["key"]: r for r in gpu_check.target_rows(check, [failed])}
    assert (rows["latent_step_moca"]["measured"], rows["latent_step_moca"]["met"]) == (
        "0.4 ms", "yes")  # fmt: skip
    assert rows["latent_step_sinkhorn"]["met"] == "**no**"
    assert rows["bf16_speedup_plain"]["limit"] == ">= 1.30x" and rows["bf16_speedup_plain"]["ok"]
    assert rows["paper_protocol"]["measured"] == "0.80 h (extrapolated)"
    assert rows["cuda_tests"]["measured"] == "failed (see CUDA tests)"
    assert rows["image_swd_s"]["measured"] == "not measured"
    check.small = True  # the same values in small mode: shown, not judged
    rows = {r["key"]: r for r in gpu_check.target_rows(check, [])}
    assert rows["latent_step_sinkhorn"]["met"] == "not judged (small mode)"
    check.tmp.rmdir()
