"""Command line of `python -m reports`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports.atomic import write_text_atomic
from reports.load import ReportError, load_results

PROG = "python -m reports"
CONSOLE_PROG = "sidebyside-reports"  # the console script (pyproject.toml [project.scripts])


def _parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Reports from `pytest --benchmark` result files.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = sub.add_parser("build", help="write a run's report folder from its result file",
                           description="Write results.csv, report.md, report.tex, plots "
                           "(PNG and SVG) and report.html for one result file.")
    build.add_argument("result", help="a benchmark.json from `pytest --benchmark` (or its folder)")
    build.add_argument("--out", metavar="DIR",
                       help="the report folder (default: the folder of a run's result file, "
                            "else a new one under ./sidebyside-runs)")

    compare = sub.add_parser(
        "compare", help="compare two runs row by row, with statistics",
        description="Print, per row in both runs, NEW/OLD of the median epoch time with a 95% "
        "bootstrap confidence interval and a Mann-Whitney U test, as Markdown.")
    compare.add_argument("old", help="the baseline result file")
    compare.add_argument("new", help="the result file to judge")
    compare.add_argument("--threshold", type=float, default=5.0, metavar="PCT",
                         help="flag significant slowdowns beyond PCT percent (default 5)")
    compare.add_argument("--fail-above", type=float, metavar="PCT",
                         help="exit with status 1 when a row is significantly slower by more "
                              "than PCT percent (for CI)")
    compare.add_argument("--alpha", type=float, default=0.05,
                         help="significance level (default 0.05)")
    compare.add_argument("--csv", metavar="PATH", help="also write the rows as CSV")
    compare.add_argument("--markdown", metavar="PATH", help="also write the Markdown to a file")
    return parser


def console_main() -> int:
    """The `sidebyside-reports` command: like `python -m reports`, but immune to a reports.py
    or reports/ in the current folder, because a console script does not import from there."""
    return main(prog=CONSOLE_PROG)


def main(argv=None, prog: str = PROG) -> int:
    args = _parser(prog).parse_args(argv)
    try:
        if args.command == "build":
            from reports.build import build_report

            out = build_report(args.result, args.out)
            print(f"report written to {out}")
            return 0
        return _compare(args)
    except ReportError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2


def _compare(args) -> int:
    from reports.compare import compare_runs, to_markdown

    for name, value in (("--threshold", args.threshold), ("--fail-above", args.fail_above)):
        if value is not None and value < 0:
            raise ReportError(f"{name} must be a percentage >= 0, got {value:g}")
    if not 0 < args.alpha < 1:
        raise ReportError(f"--alpha must be in (0, 1), got {args.alpha:g}")
    old, new = load_results(args.old), load_results(args.new)
    threshold = args.fail_above if args.fail_above is not None else args.threshold
    comparison = compare_runs(old, new, threshold_pct=threshold, alpha=args.alpha)
    text = to_markdown(comparison, Path(args.old).as_posix(), Path(args.new).as_posix())
    print(text)
    if args.markdown:
        write_text_atomic(args.markdown, text)
    if args.csv:
        write_text_atomic(args.csv, comparison.rows.to_csv(index=False))
    if args.fail_above is not None and len(comparison.regressions):
        print(f"{PROG}: {len(comparison.regressions)} row(s) slower by more than "
              f"{args.fail_above:g}%", file=sys.stderr)
        return 1
    return 0
