"""``python -m wae_bench``: the ``wae-bench`` command."""

from .cli import main

raise SystemExit(main())
