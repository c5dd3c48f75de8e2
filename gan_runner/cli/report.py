"""`gan-report`: one comparable table (markdown + CSV) and a curve plot for a sweep or a single run.

The work is gan_runner/reporting.py's; this entry point parses the arguments, calls it and prints the markdown.
"""
from __future__ import annotations

import sys
from pathlib import Path

from gan_runner.cli.boundary import OneLineParser, guarded
from gan_runner.cli.output_paths import writable_path


def _report(args: object) -> None:
    from gan_runner.plugins import activate
    from gan_runner.reporting import report

    activate(args.plugin)  # type: ignore[attr-defined]  # plugin metrics' records say which way is better
    out = writable_path(args.out, "--out", folder=True) if args.out is not None else None  # type: ignore[attr-defined]
    print(report(args.path, out, plot=not args.no_plot))  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> None:
    """Console entry point of `gan-report`."""
    parser = OneLineParser(prog="gan-report", description=__doc__)
    parser.add_argument("path", type=Path, help="a sweep dir (outputs/multirun/DATE/TIME) or a run dir")
    parser.add_argument("--out", type=Path, default=None, help="where to write report.md/.csv and curves.png (default: PATH)")
    parser.add_argument("--no-plot", action="store_true", help="skip curves.png")
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                        help="a plugin file or module whose metrics the runs report (installed plugins load by themselves)")
    parser.add_argument("--verbose", action="store_true", help="full tracebacks for errors")
    args = parser.parse_args(argv)
    sys.exit(guarded(lambda: _report(args), args.verbose))


if __name__ == "__main__":
    main()
