"""The prepared GPU check: one run on one GPU, one Markdown + JSON summary of the GPU targets,
and every log it made.

    bash benchmarks/gpu_check.sh [--out DIR] [--small] [--stem NAME]

On a CUDA machine (an H100, no network, the project's dependencies installed) it writes
``results/timing/gpu_check.md`` and ``.json`` and keeps its evidence in
``results/timing/gpu_check_logs/``: the console lines, one log per section and per command,
the output folders of the commands it ran and a JUnit XML of the CUDA tests. Sections, one
progress line each, in this order:

  1. machine: GPU, torch and CUDA versions, CPU count, the packages the methods need;
  2. CUDA tests: ``python -m pytest tests -k cuda`` (JUnit XML: passed / skipped / failed);
  3. latent CLI: wall time of the default ``wae-bench latent --device cuda`` and of the same
     command with ``--device cpu`` on the same machine (subprocesses, Python start included);
  4. per-step times: every latent method (MLP 100 -> 256 -> 128, batch 64) and the A2 step on
     32x32x3 batch 64 (plain autoencoder, moca, mmd) in fp32 and bf16, graphs on and off;
  5. A2 epoch: ``wae-bench image`` (paper-cifar10 protocol, 1 epoch) on generated
     CIFAR-10-shaped images written as cifar-10-batches-py pickles, moca (lam 10), mmd (lam 10)
     and a plain autoencoder (mmd at lam 0); seconds per epoch from metrics.csv, and the
     paper's protocol (A2, 100 epochs, moca and mmd at three lam, one seed) extrapolated;
  6. image SWD at N = 10,000: time and peak GPU memory.

Time: each section has its own budget (``plan.BUDGETS_S``, 320 s in all), so a slow section
never takes another's time; the CUDA tests run right after the machine section. A command is
interrupted (SIGINT: pytest still writes its JUnit XML) at its section's budget and killed 10 s
later; in-process sections start no new configuration once their budget is spent. With Python's
start, the whole check fits 6 minutes on one H100 by construction, whatever the GPU does.

Without CUDA (or with ``--small``) it runs a small mode (about 30 s on an idle 2-core CPU): the same
sections and summary shape with tiny sizes, CUDA rows marked "no CUDA" when CUDA is absent, and
no target judged. Its default stem is ``gpu_check_cpu`` (``gpu_check_small`` with CUDA), so that
it is never taken for a GPU run.

A missing dependency stops the check before anything runs, with one line naming it. A section
that fails records its error and the check goes on; the summary is rewritten after every
section, so a check stopped from outside keeps what it measured. The exit status is 1 when any
section failed (a missed target is a result, not a failure). Nothing is installed or downloaded.

Modules: ``plan`` (sizes, budgets, targets), ``check`` (shared state, budgets, commands),
``steps`` (per-step timing), ``sections`` (the other sections), ``summary`` (target rows,
Markdown), ``cli`` (dependencies, the run, writing).
"""
