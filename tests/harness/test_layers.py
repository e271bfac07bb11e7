"""The import layers of pyproject.toml hold, and an upward import breaks them."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("importlinter", reason='the lint extra: pip install -e ".[lint]"')


def lint_imports(folder: Path) -> subprocess.CompletedProcess:
    """`lint-imports` in ``folder``, which it puts first on the import path."""
    script = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run([sys.executable, "-c", script], cwd=folder, capture_output=True,
                          text=True)  # fmt: skip


def copy_of_the_packages(tmp_path: Path) -> Path:
    for name in ("wae_bench", "regularizers", "benchmarks"):
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_layers_hold():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "4 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [  # an upward import, even a lazy one inside a function
     ("wae_bench/jobs.py", "def _up():\n    from . import command\n", "is layered"),
     # the library reaching into the harness
     ("regularizers/swd.py", "def _up():\n    import wae_bench.files\n", "stand alone"),
     # a cycle inside a task's package (an upward import makes a cycle too)
     ("wae_bench/tasks/latent/report.py", "def _up():\n    from . import task\n",
      "no import cycle"),
     # the suite reaching into its benchmarks
     ("wae_bench/recipe.py", "def _up():\n    import benchmarks.conftest\n", "from outside")],
)  # fmt: skip
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, line, broken):
    copy = copy_of_the_packages(tmp_path)
    with open(copy / module, "a") as source:
        source.write("\n\n" + line)
    done = lint_imports(copy)
    assert done.returncode == 1
    assert broken in done.stdout.split("Broken contracts")[1]
