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
    assert "Machine: Test CPU, 2 cores" in text
    assert "| latent epoch: harness / bare loop | 1.10x | <= 1.10x | yes |" in text
    assert "| image step (digits): moca / plain autoencoder | 1.50x | <= 1.30x | **no** |" in text
    assert "| swd / POT sliced_wasserstein_distance, B=64 | 0.33x | <= 1.00x | yes |" in text
    assert "| image SWD, N=10,000 32x32x3 (seconds) | 17.0 s | <= 20.0 s | yes |" in text
    assert "| image SWD, N=10,000: peak memory | 2.93 GB | <= 4.00 GB | yes |" in text
    assert "| mmd at B=8192: peak memory | 0.88 GB | <= 24.00 GB | yes |" in text
    assert "| sort 1000x1000: numpy / torch.sort | 0.05x | <= 1.00x | yes |" in text
    assert "| sort 256x50: numpy / torch.sort | not measured | <= 1.00x | - |" in text
    png = tmp_path / "out" / "scaling.png"
    assert png.read_bytes()[:4] == b"\x89PNG"


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
