"""The command-line entry points: gan-run (train), gan-sample, gan-eval, gan-report."""
