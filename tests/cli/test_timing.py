import json

import pytest

from wae_bench.cli import main


def entry(name, median, group="g", **tags):
    return {"name": name, "group": group, "extra_info": tags,
            "stats": {"median": median, "iqr": median / 10, "rounds": 5}}  # fmt: skip


def write_benchmarks(path):
    benchmarks = [
        entry("harness", 0.011, role="latent_epoch", variant="harness"),
        entry("bare", 0.010, role="latent_epoch", variant="bare"),
        entry("plain", 0.020, role="image_step", method="plain", setting="digits"),
        entry("moca-step", 0.030, role="image_step", method="moca", setting="digits"),
        entry("image-swd", 17.0, role="image_swd", n=10_000, peak_mb=3000.0),
        entry("sort-np", 0.001, role="sort", impl="numpy", shape="1000x1000"),
        entry("sort-torch", 0.020, role="sort", impl="torch", shape="1000x1000"),
        entry("mem", 1.0, role="memory", method="mmd", batch=8192, peak_mb=900.0),
        entry("fixed", 0.6, role="fixed_cost", import_torch_s=0.5, command_s=0.6, ratio=1.2),
    ]
    for batch, scale in ((64, 1.0), (256, 3.0)):
        benchmarks += [
            entry(f"swd{batch}", 0.0002 * scale, role="regularizer", method="swd", batch=batch),
            entry(f"pot{batch}", 0.0006 * scale, role="regularizer", method="pot-swd", batch=batch),
            entry(
                f"moca{batch}",
                0.001 * scale,
                role="regularizer",
                method="moca",
                batch=batch,
                K=4096,
            ),  # fmt: skip
            entry(
                f"mocaK{batch}",
                0.004 * scale,
                role="regularizer",
                method="moca",
                batch=batch,
                K=65536,
            ),  # fmt: skip
        ]
    path.write_text(json.dumps({"machine_info": {"cpu": {"brand_raw": "Test CPU", "count": 2}},
                                "benchmarks": benchmarks}))  # fmt: skip


def test_timing_writes_targets_table_and_scaling_figure(tmp_path):
    source = tmp_path / "bench.json"
    write_benchmarks(source)
    assert main(["timing", str(source), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "timing.md").read_text()
    assert "Machine: Test CPU, 2 cores; GPU: none (no CUDA in this run)" in text
    assert "| latent epoch: harness / bare loop | cpu | 1.10x | <= 1.10x | yes |" in text
    assert ("| image step (digits): moca / plain autoencoder | cpu | 1.50x | <= 1.30x | **no** |"
            in text)  # fmt: skip
    assert "| swd / POT sliced_wasserstein_distance, B=64 | cpu | 0.33x | <= 1.00x | yes |" in text
    assert "| image SWD, N=10,000 32x32x3 (seconds) | cpu | 17.0 s | <= 20.0 s | yes |" in text
    assert "| image SWD, N=10,000: peak memory | cpu | 2.93 GB | <= 4.00 GB | yes |" in text
    assert "| mmd at B=8192: peak memory | cpu | 0.88 GB | <= 24.00 GB | yes |" in text
    assert "| sort 1000x1000: numpy / torch.sort | cpu | 0.05x | <= 1.00x | yes |" in text
    assert "| sort 256x50: numpy / torch.sort | cpu | not measured | <= 1.00x | - |" in text
    assert "| fixed cost: command / import torch | cpu | 1.20x | <= 1.50x | yes |" in text
    # the GPU targets are listed, marked as not measured
    no_cuda = "| cuda | not measured (no CUDA in this run) |"
    for row in ("| latent step (MLP, B=64, graphs), moca (ms) " + no_cuda + " <= 0.5 ms | - |",
                "| latent step (MLP, B=64, graphs), sinkhorn (ms) " + no_cuda + " <= 2 ms | - |",
                "| A2 32x32x3 B=64 epoch (782 x step, graphs, fp32), plain " + no_cuda
                + " <= 4.00 s | - |",
                "| A2 step (graphs, fp32): moca / plain " + no_cuda + " <= 1.25x | - |",
                "| A2 step (graphs), mmd: fp32 / bf16 (bf16 speed-up) " + no_cuda
                + " >= 1.30x | - |"):  # fmt: skip
        assert row in text
    assert "| cpu |" in text.split("## All benchmarks")[1]  # the device column
    png = tmp_path / "out" / "scaling.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "out" / "scaling_cuda.png").exists()


def cuda_benchmarks() -> list[dict]:
    """A hand-written CUDA run: the GPU targets' steps, some met, some missed."""
    cuda = {"device": "cuda"}
    rows = [
        entry(
            "harness-cuda",
            0.002,
            role="latent_epoch",
            variant="harness",
            graphs=True,
            amp="fp32",
            **cuda,
        ),
        entry(
            "harness-cuda-eager",
            0.009,
            role="latent_epoch",
            variant="harness",
            graphs=False,
            amp="fp32",
            **cuda,
        ),
        entry("bare-cuda", 0.004, role="latent_epoch", variant="bare", **cuda),
        entry("swd-cuda", 0.0001, role="regularizer", method="swd", batch=64, **cuda),
        entry("pot-cuda", 0.0004, role="regularizer", method="pot-swd", batch=64, **cuda),
    ]
    latent_ms = {"moca": 0.4, "mmd": 0.45, "swd": 0.3, "sinkhorn": 2.5, "gan": 0.6, "cwae": 0.3}
    for method, ms in latent_ms.items():
        for graphs, scale in ((True, 1.0), (False, 5.0)):
            rows.append(
                entry(
                    f"latent-{method}-{graphs}",
                    ms * scale / 1e3,
                    role="latent_step",
                    method=method,
                    batch=64,
                    graphs=graphs,
                    amp="fp32",
                    **cuda,
                )
            )
    a2_ms = {"plain": 4.0, "moca": 5.2, "mmd": 4.4}  # fp32, graphs; bf16 is 1.6x faster
    for method, ms in a2_ms.items():
        for amp, speed in (("fp32", 1.0), ("bf16", 1.6)):
            for graphs, scale in ((True, 1.0), (False, 2.0)):
                rows.append(
                    entry(
                        f"a2-{method}-{amp}-{graphs}",
                        ms * scale / speed / 1e3,
                        role="a2_step",
                        method=method,
                        batch=64,
                        graphs=graphs,
                        amp=amp,
                        **cuda,
                    )
                )
    return rows


def test_timing_reports_cuda_rows_beside_cpu_rows_and_the_gpu_targets(tmp_path):
    source = tmp_path / "bench.json"
    write_benchmarks(source)
    raw = json.loads(source.read_text())
    raw["benchmarks"] += cuda_benchmarks()
    raw["machine_info"].update(cuda={"device": "Test GPU", "version": "12.8"}, torch="2.9")
    source.write_text(json.dumps(raw))
    assert main(["timing", str(source), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "timing.md").read_text()
    assert "GPU: Test GPU (CUDA 12.8)" in text and "torch 2.9" in text
    assert "no CUDA in this run" not in text
    # device-independent targets for both devices; on CUDA the graphed harness is the default
    assert "| latent epoch: harness / bare loop | cpu | 1.10x | <= 1.10x | yes |" in text
    assert "| latent epoch: harness / bare loop | cuda | 0.50x | <= 1.10x | yes |" in text
    assert "| swd / POT sliced_wasserstein_distance, B=64 | cuda | 0.25x | <= 1.00x | yes |" in text
    # the GPU targets, from the graphed float32 steps
    latent = "| latent step (MLP, B=64, graphs),"
    assert f"{latent} moca (ms) | cuda | 0.4 ms | <= 0.5 ms | yes |" in text
    assert f"{latent} sinkhorn (ms) | cuda | 2.5 ms | <= 2 ms | **no** |" in text
    assert f"{latent} gan (ms) | cuda | 0.6 ms | <= 0.5 ms | **no** |" in text
    assert "cwae (ms)" not in text  # no target for cwae
    assert (
        "| A2 32x32x3 B=64 epoch (782 x step, graphs, fp32), plain | cuda | 3.13 s | "
        "<= 4.00 s | yes |"
    ) in text  # 782 x 4 ms
    assert (
        "| A2 32x32x3 B=64 epoch (782 x step, graphs, fp32), mmd | cuda | 3.44 s | "
        "<= 4.00 s | yes |"
    ) in text
    assert (
        "| A2 32x32x3 B=64 epoch (782 x step, graphs, bf16), plain | cuda | 1.96 s | "
        "<= 4.00 s | yes |"
    ) in text
    assert "| A2 step (graphs, fp32): moca / plain | cuda | 1.30x | <= 1.25x | **no** |" in text
    assert (
        "| A2 step (graphs), moca: fp32 / bf16 (bf16 speed-up) | cuda | 1.60x | >= 1.30x | yes |"
    ) in text
    benchmarks = text.split("## All benchmarks")[1]
    assert "| a2-moca-bf16-True | cuda |" in benchmarks and "| harness | cpu |" in benchmarks
    assert (tmp_path / "out" / "scaling_cuda.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not found"), ("{]", "is not a pytest-benchmark JSON file"),
     ('{"benchmarks": [{"name": "x", "stats": {"median": 1, "iqr": 0, "rounds": 1}}]}',
      "holds no wae-bench benchmarks")],
)  # fmt: skip
def test_timing_bad_input_exits_2(tmp_path, capsys, content, message):
    source = tmp_path / "bench.json"
    if content is not None:
        source.write_text(content)
    assert main(["timing", str(source)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_fashion_epoch_targets_and_figure(tmp_path):
    """A run of benchmarks/test_fashion_epoch.py alone: its two targets and its figure, and no
    scaling figure (no regularizer was timed)."""
    source = tmp_path / "fashion.json"
    benchmarks = [
        entry("harness", 33.0, role="fashion_epoch", variant="harness", graphs=False, amp="fp32"),
        entry("bare", 31.0, role="fashion_epoch", variant="bare"),
        entry("swd", 12.0, role="image_swd_fashion", n=10_000),
    ]
    source.write_text(json.dumps({"machine_info": {}, "benchmarks": benchmarks}))
    assert main(["timing", str(source), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "timing.md").read_text()
    assert "| Fashion-MNIST epoch: harness / bare loop | cpu | 1.06x | <= 1.10x | yes |" in text
    assert ("| an evaluation's image SWD of 10,000 Fashion-MNIST images / one epoch | cpu | "
            "0.36x | <= 1.00x | yes |") in text  # fmt: skip
    assert (tmp_path / "out" / "fashion_epoch.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "out" / "scaling.png").exists()


def test_a_target_reads_the_ratio_its_benchmark_paired_round_by_round(tmp_path):
    """The benchmark's own median of per-round evaluation / epoch ratios (1.07x here), not the
    ratio of the two benchmarks' medians (12 / 33 = 0.36x), which another load can skew; a
    benchmark without one falls back to the medians."""
    source = tmp_path / "fashion.json"
    benchmarks = [
        entry("harness", 33.0, role="fashion_epoch", variant="harness", graphs=False, amp="fp32"),
        entry("bare", 31.0, role="fashion_epoch", variant="bare"),
        entry("swd", 12.0, role="image_swd_fashion", n=10_000, ratio=1.07,
              ratios=[1.1, 1.07, 0.9], paired_s=[11.0, 11.2, 13.0]),
    ]  # fmt: skip
    source.write_text(json.dumps({"machine_info": {}, "benchmarks": benchmarks}))
    assert main(["timing", str(source), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "timing.md").read_text()
    assert ("| an evaluation's image SWD of 10,000 Fashion-MNIST images / one epoch | cpu | "
            "1.07x | <= 1.00x | **no** |") in text  # fmt: skip
    # the harness entry holds no paired ratio: the medians' ratio, 33 / 31
    assert "| Fashion-MNIST epoch: harness / bare loop | cpu | 1.06x | <= 1.10x | yes |" in text
