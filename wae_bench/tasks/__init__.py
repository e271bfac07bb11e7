"""The benchmark's tasks: each has run(config) and report(run_dir)."""
