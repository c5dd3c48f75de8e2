"""`gan-report`: one comparable table (markdown + CSV) and a curve plot for a sweep or a single run.

The work is gan_runner/reporting.py's; this entry point parses the arguments, calls it and prints the markdown.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gan_runner.errors import UserError
from gan_runner.reporting import report


def main(argv: list[str] | None = None) -> None:
    """Console entry point of `gan-report`."""
    parser = argparse.ArgumentParser(prog="gan-report", description=__doc__)
    parser.add_argument("path", type=Path, help="a sweep dir (outputs/multirun/DATE/TIME) or a run dir")
    parser.add_argument("--out", type=Path, default=None, help="where to write report.md/.csv and curves.png (default: PATH)")
    parser.add_argument("--no-plot", action="store_true", help="skip curves.png")
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                        help="a plugin file or module whose metrics the runs report (installed plugins load by themselves)")
    args = parser.parse_args(argv)
    try:
        from gan_runner.plugins import activate

        activate(args.plugin)  # plugin metrics' records say which way is better
        print(report(args.path, args.out, plot=not args.no_plot))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
