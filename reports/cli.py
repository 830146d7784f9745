"""Command line of `python -m reports`."""

from __future__ import annotations

import argparse
import math
import os
import shlex
import signal
import sys
from pathlib import Path

from reports.atomic import write_text_atomic
from reports.load import ReportError, load_results, result_path

PROG = "python -m reports"
CONSOLE_PROG = "sidebyside-reports"  # the console script (pyproject.toml [project.scripts])


def _parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Reports from `pytest --benchmark` result files.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = sub.add_parser("build", help="write a run's report folder from its result file",
                           description="Write results.csv, report.md, report.tex, plots "
                           "(PNG and SVG) and report.html for one result file.")
    build.add_argument("result", help="a results.json from `pytest --benchmark` (or its run "
                                      "folder; a format-1 benchmark.json is read too)")
    build.add_argument("--out", metavar="DIR",
                       help="the report folder (default: the run folder of a results.json; "
                            "any other result file, such as an edited copy, gets a new "
                            "folder named after it under ./sidebyside-runs, never another "
                            "run's); a folder holding another result file is refused")

    compare = sub.add_parser(
        "compare", help="compare two runs row by row, with statistics",
        description="Print, per row in both runs, NEW/OLD of the median µs/step over worker "
        "processes with a 95% bootstrap confidence interval, Welch's t-test on the logs of "
        "the per-process samples with Holm's correction across rows, and a verdict: slower, "
        "faster, same (the interval within ±DELTA) or inconclusive, as Markdown.")
    compare.add_argument("old", help="the baseline result file (results.json or its folder)")
    compare.add_argument("new", help="the result file to judge")
    compare.add_argument("--delta", type=float, default=5.0, metavar="PCT",
                         help="the smallest change that matters: \"same\" means the interval "
                              "lies within ±PCT percent (default 5)")
    compare.add_argument("--threshold", type=float, metavar="PCT",
                         help="mark \"slower\" rows beyond PCT percent as REGRESSION "
                              "(default: the --delta)")
    compare.add_argument("--fail-above", type=float, metavar="PCT",
                         help="exit with status 1 when a row's verdict is \"slower\" and its "
                              "ratio exceeds 1 + PCT/100, when a row measured in OLD was "
                              "not measured in NEW, or when no row was compared (for CI)")
    compare.add_argument("--alpha", type=float, default=0.05,
                         help="family-wise significance level after Holm's correction "
                              "(default 0.05)")
    compare.add_argument("--csv", metavar="FILE", help="also write the rows as CSV")
    compare.add_argument("--markdown", metavar="FILE", help="also write the Markdown to a file")
    return parser


def console_main() -> int:
    """The `sidebyside-reports` command: like `python -m reports`, but immune to a reports.py
    or reports/ in the current folder, because a console script does not import from there."""
    return main(prog=CONSOLE_PROG)


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP: the terminal closed), handled as Ctrl-C: nothing half-written is
    left behind. ``signum``: the signal's number."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum, frame):
    raise Terminated(signum)


# The shell's convention for a command ended by a signal: 128 + the signal's number.
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM
_HANDLED = (signal.SIGTERM, signal.SIGHUP)


# What the reports import beyond numpy: in the base install (pyproject.toml), and named in one
# sentence should an environment lack one anyway.
REPORT_NEEDS = ("pandas", "matplotlib", "scipy")


def main(argv=None, prog: str = PROG) -> int:
    args = _parser(prog).parse_args(argv)
    previous = {}
    if threading_is_main():
        previous = {sig: signal.signal(sig, _on_signal) for sig in _HANDLED}
    try:
        if args.command == "build":
            return _build(args, prog)
        return _compare(args)
    except ReportError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:
        if err.name not in REPORT_NEEDS:
            raise
        print(f"{prog}: error: {args.command} needs {err.name}, which is not installed: "
              f"pip install {' '.join(REPORT_NEEDS)} (the project's own install, pip install -e ., "
              f"brings all three)", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        return _interrupted(args, prog, err)
    except BrokenPipeError:
        # `compare A B | head`: the reader stopped reading, which is not an error of ours.
        # Python's recipe: point stdout at devnull so that the exit's flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _interrupted(args, prog: str, err: KeyboardInterrupt) -> int:
    """One sentence for Ctrl-C or SIGTERM, and the shell's status for that signal."""
    signum = err.signum if isinstance(err, Terminated) else signal.SIGINT
    name, status = signal.Signals(signum).name, 128 + signum
    if args.command == "compare":
        print(f"{prog}: interrupted by {name}: the result files are intact and no output "
              f"file is half-written", file=sys.stderr)
    elif getattr(err, "report_folder", None) is not None:
        print(f"{prog}: interrupted by {name} just after the report was written to "
              f"{err.report_folder}", file=sys.stderr)
    else:
        try:
            source = result_path(args.result)
        except ReportError:
            source = args.result
        print(f"{prog}: interrupted by {name}: the report was not written and any earlier "
              f"one is as it was; {source} is intact, and `{prog} build "
              f"{shlex.quote(args.result)}` builds the report", file=sys.stderr)
    return status


def _build(args, prog: str = PROG) -> int:
    from reports.build import build_report

    made = []  # the folders above --out that the build makes: removed again on failure
    if args.out:
        check_output_dir("--out", args.out)
        parent = Path(args.out).absolute().parent
        while not parent.exists():
            made.append(parent)
            parent = parent.parent
    try:
        out = build_report(args.result, args.out)
    except (OSError, ReportError, KeyboardInterrupt) as err:
        for folder in made:  # innermost first; a folder that is not empty stays
            try:
                folder.rmdir()
            except OSError:
                break
        if isinstance(err, OSError):
            raise ReportError(f"the report could not be written ({_os_error(err)})") from None
        raise
    print(f"report written to {out}")
    return 0


def _compare(args) -> int:
    from reports.compare import compare_runs, to_markdown

    for name, value, smallest in (("--delta", args.delta, "> 0"),
                                  ("--threshold", args.threshold, ">= 0"),
                                  ("--fail-above", args.fail_above, ">= 0")):
        if value is not None and not (math.isfinite(value) and (
                value > 0 if smallest == "> 0" else value >= 0)):
            raise ReportError(f"{name} must be a finite percentage {smallest}, got {value:g}")
    if not (math.isfinite(args.alpha) and 0 < args.alpha < 1):
        raise ReportError(f"--alpha must be in (0, 1), got {args.alpha:g}")
    outputs = [(f"--{option}", getattr(args, option)) for option in ("csv", "markdown")
               if getattr(args, option)]
    for option, value in outputs:
        check_output_file(option, value)
    inputs = [result_path(args.old), result_path(args.new)]
    for option, value in outputs:
        for side, path in zip(("OLD", "NEW"), inputs):
            if _same_path(value, path):
                raise ReportError(f"{option} {value} is the {side} result file ({path}); "
                                  f"writing there would replace it, so give another file name")
    if len(outputs) == 2 and _same_path(outputs[0][1], outputs[1][1]):
        raise ReportError(f"--csv and --markdown name the same file ({args.csv}); give two "
                          f"file names")
    old, new = load_results(args.old), load_results(args.new)
    comparison = compare_runs(old, new, delta_pct=args.delta, alpha=args.alpha,
                              threshold_pct=args.threshold)
    text = to_markdown(comparison, Path(args.old).as_posix(), Path(args.new).as_posix())
    try:
        if args.csv:
            write_text_atomic(args.csv, comparison.rows.to_csv(index=False))
        if args.markdown:
            write_text_atomic(args.markdown, text)
    except OSError as err:
        raise ReportError(f"the comparison could not be written ({_os_error(err)})") from None
    print(text)
    if args.fail_above is not None:
        return _gate(comparison, args.fail_above)
    return 0


def _gate(comparison, fail_above_pct: float) -> int:
    """The exit status of ``compare --fail-above``: 1 when a row is slower beyond the
    threshold, when a row measured in the old run was not measured in the new one (a
    crashed row must not pass a regression gate), or when no row could be compared."""
    rows = comparison.rows
    failing = rows[(rows["verdict"] == "slower") & (rows["ratio"] > 1 + fail_above_pct / 100)]
    if len(failing):
        print(f"{PROG}: {len(failing)} row(s) slower by more than {fail_above_pct:g}% "
              f"({', '.join(failing['row'])})", file=sys.stderr)
        return 1
    lost = [r for r in comparison.not_compared if "(old: ok" in r or "(old: partial" in r]
    if lost:
        print(f"{PROG}: {len(lost)} row(s) measured in the old run were not measured in the "
              f"new one ({', '.join(lost)})", file=sys.stderr)
        return 1
    if not len(rows):
        print(f"{PROG}: no row was measured in both runs, so --fail-above has nothing to "
              f"pass", file=sys.stderr)
        return 1
    return 0


def _same_path(a, b) -> bool:
    """Whether ``a`` and ``b`` are one file: the same inode (hard links, symbolic links,
    other spellings) or, where one does not exist yet, the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def _os_error(err: OSError) -> str:
    return f"{err.filename}: {err.strerror}" if err.filename else str(err)


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_file(option: str, value: str) -> None:
    """Refuse, in one sentence, an output file that cannot be written: a folder, a path
    through a file, or a folder without write permission."""
    path = Path(value)
    if path.is_dir():
        raise ReportError(f"{option} {value}: is a folder; give a file name")
    check_output_dir(option, str(path.parent), shown=value)


def check_output_dir(option: str, value: str, shown: str | None = None) -> None:
    """Refuse, in one sentence, an output folder that is a file or lies in one that can't
    be written (checked before anything is read, so that nothing is written partly)."""
    shown = shown or value
    existing = _nearest_existing(Path(value))
    if not existing.is_dir():
        raise ReportError(f"{option} {shown}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ReportError(f"{option} {shown}: the folder {existing} is not writable")
