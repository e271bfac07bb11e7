"""Checkpoints hold tensors, numbers, text, lists and dicts, and are read with
torch.load(weights_only=True): one that names any other object is refused and never runs."""

import os
from collections import Counter
from decimal import Decimal

import numpy as np
import pytest
import torch

import regularizers
from wae_bench import checkpoints
from wae_bench.errors import UsageError

from tests.helpers.runs import run_cli  # tiny latent runs

METHODS = ",".join(regularizers.available())


def same(a, b) -> bool:
    """Equal nested checkpoint states (tensors compared bit for bit, dtype and all)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return type(b) is type(a) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(b) is type(a) and len(a) == len(b) and all(map(same, a, b))
    return a == b or (a != a and b != b)  # NaN loss of epoch 0's row


def test_every_methods_checkpoint_loads_weights_only_and_whole(tmp_path):
    assert run_cli("--methods", METHODS, "--epochs", 1, "--out", tmp_path) == 0
    paths = sorted((tmp_path / "checkpoints").glob("*.pt"))
    assert [p.stem for p in paths] == sorted(f"{m}_seed0" for m in regularizers.available())
    for path in paths:
        safe = torch.load(path, weights_only=True)
        assert same(safe, torch.load(path, weights_only=False)), path.name
        assert set(safe) >= {"modules", "optimizer", "rng", "batch_rng", "rows"}


def payload(marker):
    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    return Payload()


def test_a_checkpoint_that_would_run_code_is_refused_and_never_runs(tmp_path, capsys):
    run = tmp_path / "run"
    assert run_cli("--methods", "mmd", "--out", run) == 0
    checkpoint = run / "checkpoints" / "mmd_seed0.pt"
    marker = tmp_path / "PWNED"
    state = torch.load(checkpoint, weights_only=True)
    torch.save({**state, "note": payload(marker)}, checkpoint)
    saved, curves = checkpoint.read_bytes(), (run / "curves.csv").read_text()
    capsys.readouterr()
    assert run_cli("--methods", "mmd", "--resume", "--out", run) == 2
    assert capsys.readouterr().err == (
        f"wae-bench: error: checkpoint {checkpoint} holds more than tensors, numbers and text (it "
        f"names {os.system.__module__}.system, which loading could run as code), so it is not "
        "loaded; pass --overwrite to replace the run, or delete it to restart that run\n"
    )
    assert not marker.exists()
    assert checkpoint.read_bytes() == saved and (run / "curves.csv").read_text() == curves
    assert run_cli("--methods", "mmd", "--overwrite", "--out", run) == 0
    assert not marker.exists() and torch.load(checkpoint, weights_only=True)["epoch"] == 2
    torch.save({**state, "note": payload(marker)}, checkpoint)
    torch.load(checkpoint, weights_only=False)  # the control: the unsafe path runs it
    assert marker.exists()


def test_any_other_object_is_refused_with_the_way_out(tmp_path):
    path = tmp_path / "run.pt"
    torch.save({"epoch": 1, "price": Decimal("1.5")}, path)
    with pytest.raises(UsageError) as err:
        checkpoints.load_checkpoint(path)
    assert str(err.value) == (
        f"checkpoint {path} holds more than tensors, numbers and text (it names "
        "decimal.Decimal, which loading could run as code), so it is not loaded; pass "
        "--overwrite to replace the run, or delete it to restart that run"
    )


@pytest.mark.parametrize(
    ("state", "where"),
    [
        ({"rows": [{"swd": np.float64(0.5)}]}, "state['rows'][0]['swd'] is a numpy.float64"),
        ({"rng": np.random.default_rng(0)}, "state['rng'] is a numpy.random._generator.Generator"),
        ({("a", 1): Counter()}, "state[('a', 1)] is a collections.Counter"),
        ({1.5: None, np.int64(2): 0}, "a key of state is a numpy.int64"),
    ],
)
def test_saving_anything_weights_only_would_refuse_is_an_error(tmp_path, state, where):
    with pytest.raises(TypeError) as err:
        checkpoints.save_checkpoint(tmp_path / "run.pt", state)
    assert str(err.value) == (
        f"a checkpoint holds tensors, numbers, text, lists and dicts only; {where}"
    )
    assert os.listdir(tmp_path) == []


def test_what_is_saved_loads_weights_only_bit_for_bit(tmp_path):
    state = {
        "epoch": 3, "seconds": 1.25, "run": "moca_seed0", "cuda_rng": None,
        "rows": [{"method": "moca", "lam": None, "swd": float("nan")}],
        "modules": {"encoder": torch.nn.Linear(3, 2).state_dict()},
        "optimizer": {"betas": (0.9, 0.999), "steps": torch.tensor(4.0, dtype=torch.float64)},
        "rng": torch.get_rng_state(), "batch_rng": torch.Generator().manual_seed(1).get_state(),
    }  # fmt: skip
    checkpoints.save_checkpoint(tmp_path / "run.pt", state)
    assert same(checkpoints.load_checkpoint(tmp_path / "run.pt"), state)


def test_a_checkpoint_is_read_onto_the_cpu_whatever_device_saved_it(tmp_path, monkeypatch):
    """The RNG states must come back as CPU byte tensors (torch.set_rng_state and
    Generator.set_state refuse any other), so a checkpoint written on a GPU is read onto the
    CPU and the run copies the rest onto its device (no GPU here: the map is checked)."""
    torch.save({"rng": torch.get_rng_state()}, tmp_path / "run.pt")
    real, seen = torch.load, {}

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    torch.set_rng_state(checkpoints.load_checkpoint(tmp_path / "run.pt")["rng"])
    assert seen["map_location"] == "cpu" and seen["weights_only"] is True
