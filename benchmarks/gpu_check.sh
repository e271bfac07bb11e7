#!/usr/bin/env bash
# The prepared GPU check (benchmarks/gpu_check/): at most about 5.5 minutes on one H100 by its
# section budgets, no network, nothing installed. Writes results/timing/gpu_check.md and .json
# and keeps every log and the CUDA tests' JUnit XML in results/timing/gpu_check_logs/ (or --out DIR).
# Without CUDA (or with --small) it runs a small mode instead (about 30 s on an idle 2-core CPU).
# Python: $PYTHON, else the checkout's .venv, else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
exec "$PYTHON" -m benchmarks.gpu_check "$@"
