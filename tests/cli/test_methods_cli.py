"""`wae-bench methods` and `wae-bench --version`."""

import subprocess
import sys

import pytest

import regularizers
import wae_bench
from wae_bench.cli import main

from tests.conftest import registered


class Plugin(regularizers.Regularizer):
    """A plug-in registered at run time."""

    name = "plugin-listed"
    paper = "Nobody et al. 2026"
    prior_assumption = "any prior"

    def __init__(self, scale: float = 3.0):
        super().__init__()
        self.scale = scale

    def forward(self, z, x):
        return self.scale * z.mean(0).pow(2).sum()


def test_methods_lists_every_registered_method_with_its_facts(capsys):
    with registered(Plugin):
        assert main(["methods"]) == 0
        names = regularizers.available()
    out = capsys.readouterr().out
    blocks = {b.split(":", 1)[0]: b for b in out.strip().split("\n\n")}
    assert list(blocks) == names and Plugin.name in names
    for name in names:
        cls = regularizers.get(name) if name != Plugin.name else Plugin
        block = blocks[name]
        assert f"({cls.__module__})" in block.splitlines()[0]
        for key, value in regularizers.hyperparameter_defaults(cls).items():
            assert f"{key}={value!r}" in block
        assert f"batch size: at least {cls.min_batch_size}" in block
        assert "capturable on CUDA: " in block
        if name != Plugin.name:  # the built-ins state their paper and prior
            assert f"paper: {cls.paper}" in block and cls.paper
            assert f"prior: {cls.prior_assumption}" in block and cls.prior_assumption
    plugin = blocks[Plugin.name]
    assert "paper: Nobody et al. 2026" in plugin and "scale=3.0" in plugin
    assert "capturable on CUDA: no (trains eagerly)" in plugin


def test_version_prints_the_package_version():
    out = subprocess.run([sys.executable, "-m", "wae_bench", "--version"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert out.strip() == f"wae-bench {wae_bench.__version__}"


def test_version_through_main_exits_zero(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"wae-bench {wae_bench.__version__}"
