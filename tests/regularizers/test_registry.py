import sys
import textwrap
from pathlib import Path

import pytest
import torch

import regularizers
from regularizers import base


def test_every_method_file_registers_exactly_one_method():
    """A built-in method is one file of regularizers/ and its registration: the registry
    lists one method per such file, and nothing else."""
    support = {"__init__", "base", "priors", "optim", "search", "_checks"}
    files = {p.stem for p in Path(regularizers.__file__).parent.glob("*.py")} - support
    modules = [regularizers.get(name).__module__ for name in regularizers.available()]
    assert sorted(modules) == sorted(f"regularizers.{stem}" for stem in files)


def test_unknown_name_fails_listing_the_known_ones():
    known = ", ".join(regularizers.available())
    with pytest.raises(ValueError, match=f"unknown regularizer 'vae'; known: {known}$"):
        regularizers.build("vae")


def test_unknown_hyperparameter_fails_listing_the_known_ones():
    with pytest.raises(ValueError, match="moca has no hyper-parameter 'temp'; known: tau, K, m"):
        regularizers.build("moca", temp=0.1)


def test_hparams_report_constructor_arguments():
    assert regularizers.build("swd", L=7).hparams() == {"L": 7, "p": 2.0}


def test_register_rejects_non_regularizers():
    with pytest.raises(TypeError):
        regularizers.register(torch.nn.Linear)


@pytest.fixture
def restore_registry():
    saved = dict(base._REGISTRY)
    yield
    base._REGISTRY.clear()
    base._REGISTRY.update(saved)
    base._entry_points_loaded = False


def test_entry_point_plugins_are_discovered(tmp_path, monkeypatch, restore_registry):
    (tmp_path / "energy_plugin.py").write_text(
        textwrap.dedent("""
            import torch
            import regularizers

            class MeanMatching(regularizers.Regularizer):
                name = "mean-matching"

                def forward(self, z, x):
                    return z.mean(0).pow(2).sum()
        """)
    )
    dist = tmp_path / "energy_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: energy-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[wae_bench.regularizers]\nmean-matching = energy_plugin:MeanMatching\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    base._entry_points_loaded = False
    assert "mean-matching" in regularizers.available()
    assert type(regularizers.build("mean-matching")).__module__ == "energy_plugin"
    sys.modules.pop("energy_plugin", None)


def test_broken_plugin_warns_and_leaves_builtins_working(tmp_path, monkeypatch, restore_registry):
    dist = tmp_path / "broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[wae_bench.regularizers]\nbad = no_such_module:X\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    base._entry_points_loaded = False
    with pytest.warns(UserWarning, match="skipping regularizer plugin 'bad'"):
        names = regularizers.available()
    assert "moca" in names and "bad" not in names
