"""The lint step's docstring rules: every public definition of wae_bench and regularizers has
a docstring (pyproject.toml, [tool.ruff.lint]); tests and benchmarks are exempt."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("ruff", reason='the lint extra: pip install -e ".[lint]"')

UNDOCUMENTED = textwrap.dedent('''\
    """A module."""


    def public(x):
        return x


    class Thing:
        """A class."""

        def method(self):
            return 1
''')
DOCUMENTED = UNDOCUMENTED.replace("    return x", '    """Return x."""\n    return x').replace(
    "        return 1", '        """One."""\n        return 1')


def ruff(source: str, as_file: str) -> subprocess.CompletedProcess:
    """`ruff check` of ``source`` as if it were the file ``as_file`` of this repository."""
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache",
                           "--stdin-filename", as_file, "-"], input=source, cwd=ROOT,
                          capture_output=True, text=True)  # fmt: skip


@pytest.mark.parametrize("as_file", ["wae_bench/new_module.py", "regularizers/new_method.py"])
def test_a_public_definition_without_a_docstring_fails_the_lint(as_file):
    done = ruff(UNDOCUMENTED, as_file)
    assert done.returncode == 1
    assert "D103" in done.stdout and "D102" in done.stdout  # the function and the method


def test_documented_definitions_pass_and_tests_are_exempt():
    assert ruff(DOCUMENTED, "wae_bench/new_module.py").returncode == 0
    assert ruff(UNDOCUMENTED, "tests/test_new.py").returncode == 0
