"""Which heavy libraries a piece of code loads, in a fresh interpreter."""

import json
import subprocess
import sys
import textwrap

HEAVY = ("matplotlib", "pandas", "torchvision", "scipy", "sklearn", "torch_fidelity")


def heavy_modules_loaded(code: str) -> list[str]:
    """The libraries of ``HEAVY`` that a fresh Python process has loaded after ``code``."""
    script = textwrap.dedent(code) + textwrap.dedent(f"""
        print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))
    """)
    out = subprocess.run([sys.executable, "-c", "import json, sys\n" + script],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])
