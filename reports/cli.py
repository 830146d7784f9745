"""Command line of `python -m reports`."""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import signal
import sys
from pathlib import Path

from reports.errors import USER_ERRORS, ReportError
from results.atomic import new_file_problem, write_new_file
from results.format import DEFAULT_RUNS_DIR
from results.load import load_run, result_path

PROG = "python -m reports"
CONSOLE_PROG = "sidebyside-reports"  # the console script (pyproject.toml [project.scripts])


def _parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The command line: one subcommand per report (build, compare, merge, combine)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Reports from `pytest --benchmark` result files.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_build, _add_compare, _add_merge, _add_combine):
        add(sub)
    return parser


def _add_build(sub) -> None:
    build = sub.add_parser("build", help="write a run's report folder from its result file",
                           description="Write results.csv, report.md, report.tex, plots "
                           "(PNG and SVG) and report.html for one result file.")
    build.add_argument("result", help="a results.json from `pytest --benchmark` (or its run "
                                      "folder; an older sidebyside's benchmark.json too)")
    build.add_argument("--out", metavar="DIR",
                       help="the report folder (default: the run folder of a results.json; "
                            "any other result file, such as an edited copy, gets a new "
                            f"folder named after it under ./{DEFAULT_RUNS_DIR}, never another "
                            "run's); a folder holding another result file is refused")


def _add_compare(sub) -> None:
    compare = sub.add_parser(
        "compare", help="compare two runs row by row, with statistics (plain text; "
        "--markdown FILE: Markdown)",
        description="Per row in both runs, NEW/OLD and a verdict (slower, faster, same: the "
        "interval within ±DELTA, or inconclusive), the rule under it: the p10 of the samples "
        "over the machine factor (the median ratio over the rows), a two-level bootstrap "
        "interval at 1 - ALPHA/rows (Bonferroni); an older sidebyside's files: the median over "
        "processes, Welch's t-test on the logs, Holm's correction. Rows both runs counted "
        "(--metric instructions): that count. A p10 row with one process in a run gets no "
        "verdict (\"too few processes\"): the difference between processes is not measured. "
        "OLD and NEW of one run (the same file, or copies with one run_id) are refused with "
        "status 2: there is nothing to compare.")
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
                              "not measured in NEW, when no row was compared, or when every "
                              "row is a p10 row and none got a slower, faster or same "
                              "verdict (e.g. one process a row), for CI")
    compare.add_argument("--alpha", type=float, default=0.05,
                         help="family-wise significance level (Bonferroni's intervals, or "
                              "Holm's correction for median rows; default 0.05)")
    compare.add_argument("--csv", metavar="FILE", help="also write the rows as CSV")
    compare.add_argument("--markdown", metavar="FILE", help="also write it as Markdown")


def _add_merge(sub) -> None:
    merge = sub.add_parser(
        "merge", help="join the parts of a split run (pytest --benchmark --shard I/N)",
        description="Join the result files of the N parts of one plan, run with `pytest "
        "--benchmark --shard I/N` on one or several machines, into one run folder with its "
        "results.json and report. The parts must be of one plan, one commit and the same "
        "versions; the machine that ran each row is recorded and shown.")
    merge.add_argument("parts", nargs="+", metavar="PART",
                       help="a part's results.json (or its run folder)")
    merge.add_argument("--out", metavar="DIR", required=True,
                       help="the merged run's folder (new, or one without a results.json)")


def _add_combine(sub) -> None:
    combine = sub.add_parser(
        "combine", help="several runs side by side, or a class's runs grouped by machine",
        description="One report from several runs: one column group per run (µs/step with "
        "its 95% CI, × torch loop) and each run's ratio to the first with the verdict of "
        "`compare`. A folder that is not a run folder is searched (subfolders too) for "
        "result files, which are grouped by machine model and device instead: per group "
        "the number of runs and each row's median and spread of × torch loop. Inputs that "
        "cannot be combined are named on stderr, one sentence each; the exit status is 0 "
        "when at least one run was combined.")
    combine.add_argument("runs", nargs="+", metavar="RUN",
                         help="a result file, a run folder, or a folder of many result files")
    combine.add_argument("--label", action="append", metavar="NAME",
                         help="a run's name in the report, once per run in order (default: "
                              "its machine and device)")
    combine.add_argument("--out", metavar="DIR", required=True, help="the report folder")
    combine.add_argument("--delta", type=float, default=5.0, metavar="PCT",
                         help="as in compare: \"same\" means the interval of the ratio lies "
                              "within ±PCT percent (default 5)")


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
    # A terminal that cannot show µ or × (PYTHONIOENCODING=ascii, a C locale) gets an
    # escape in their place rather than a UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    previous = {}
    if threading_is_main():
        previous = {sig: signal.signal(sig, _on_signal) for sig in _HANDLED}
    try:
        if args.command == "build":
            return _build(args, prog)
        if args.command == "merge":
            return _merge(args)
        if args.command == "combine":
            return _combine(args, prog)
        return _compare(args, prog)
    except USER_ERRORS as err:
        print(f"{prog}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:
        if err.name not in REPORT_NEEDS:
            raise
        print(f"{prog}: error: {args.command} needs {err.name}, which is not installed: "
              f"pip install {' '.join(REPORT_NEEDS)} (the project's own install, pip install -e ., "
              f"brings all three)", file=sys.stderr)
        return 2
    except ImportError as err:  # installed but broken together, e.g. numpy too old for pandas
        cause = err
        while (cause.__cause__ or cause.__context__) is not None:
            cause = cause.__cause__ or cause.__context__
        lines = str(cause).strip().splitlines() or [type(cause).__name__]
        print(f"{prog}: error: {args.command} could not import what it needs here: "
              f"{_one_line(lines[0])} (pip install -U {' '.join(REPORT_NEEDS)} numpy)",
              file=sys.stderr)
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


def _one_line(text) -> str:
    """``text`` on one line that a terminal shows as it is: a control character (a newline
    or an escape in a file name the user gave) written as its code point, ``[U+001B]``."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: f"[U+{ord(m.group()):04X}]", str(text))


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _interrupted(args, prog: str, err: KeyboardInterrupt) -> int:
    """One sentence for Ctrl-C or SIGTERM, and the shell's status for that signal."""
    signum = err.signum if isinstance(err, Terminated) else signal.SIGINT
    name, status = signal.Signals(signum).name, 128 + signum
    if args.command in ("merge", "combine"):
        print(f"{prog}: interrupted by {name}: the input files are intact and no report "
              f"was written to {args.out}", file=sys.stderr)
    elif args.command == "compare":
        print(f"{prog}: interrupted by {name}: the result files are intact and no output "
              f"file is half-written", file=sys.stderr)
    elif getattr(err, "report_folder", None) is not None:
        print(f"{prog}: interrupted by {name} just after the report was written to "
              f"{err.report_folder}", file=sys.stderr)
    else:
        try:
            source = result_path(args.result)
        except USER_ERRORS:
            source = args.result
        print(f"{prog}: interrupted by {name}: the report was not written and any earlier "
              f"one is as it was; {source} is intact, and `{prog} build "
              f"{shlex.quote(args.result)}` builds the report", file=sys.stderr)
    return status


def _build(args, prog: str = PROG) -> int:
    from reports.build import build_report

    made = []  # the folders above --out that the build makes: removed again on failure
    if args.out is not None:
        check_output_dir("--out", args.out)
        parent = Path(args.out).absolute().parent
        while not parent.exists():
            made.append(parent)
            parent = parent.parent
    try:
        out = build_report(args.result, args.out)
    except (OSError, *USER_ERRORS, KeyboardInterrupt) as err:
        for folder in made:  # innermost first; a folder that is not empty stays
            try:
                folder.rmdir()
            except OSError:
                break
        if isinstance(err, OSError):
            raise ReportError(f"the report could not be written ({_os_error(err)})") from None
        raise
    _out(f"report written to {out}")
    return 0


def _merge(args) -> int:
    from reports.merge import merge

    check_output_dir("--out", args.out)
    try:
        out = merge(args.parts, args.out)
    except OSError as err:
        raise ReportError(f"the merged run could not be written ({_os_error(err)})") from None
    _out(f"merged run written to {out}")
    return 0


def _combine(args, prog: str = PROG) -> int:
    from reports.combine import NothingCombined, combine

    if not (math.isfinite(args.delta) and args.delta > 0):
        raise ReportError(f"--delta must be a finite percentage > 0, got {args.delta:g}")
    check_output_dir("--out", args.out)
    try:
        out, problems = combine(args.runs, args.out, labels=args.label,
                                delta_pct=args.delta)
    except NothingCombined as err:
        for problem in err.problems:
            print(f"{prog}: skipped: {problem}", file=sys.stderr)
        raise ReportError(str(err)) from None
    except OSError as err:
        raise ReportError(f"the combined report could not be written "
                          f"({_os_error(err)})") from None
    for problem in problems:
        print(f"{prog}: skipped: {problem}", file=sys.stderr)
    _out(f"combined report written to {out}")
    return 0


def _out(text: str) -> None:
    """Print ``text`` to standard output; a failed write (a full disk behind ``>``) is one
    sentence, not a traceback. A reader that stopped (BrokenPipeError) is left to ``main``."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as err:
        # what is left in the buffer would fail again at exit: point stdout at devnull
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise ReportError(f"standard output could not be written ({err.strerror or err})"
                          ) from None


def _compare(args, prog: str = PROG) -> int:
    from reports.compare import compare_runs, gate_failure, one_run_twice
    from reports.compare_markdown import to_markdown

    for name, value, smallest in (("--delta", args.delta, "> 0"),
                                  ("--threshold", args.threshold, ">= 0"),
                                  ("--fail-above", args.fail_above, ">= 0")):
        if value is not None and not (math.isfinite(value) and (
                value > 0 if smallest == "> 0" else value >= 0)):
            raise ReportError(f"{name} must be a finite percentage {smallest}, got {value:g}")
    if not (math.isfinite(args.alpha) and 0 < args.alpha < 1):
        raise ReportError(f"--alpha must be in (0, 1), got {args.alpha:g}")
    outputs = [(f"--{option}", getattr(args, option)) for option in ("csv", "markdown")
               if getattr(args, option) is not None]
    inputs = [result_path(args.old), result_path(args.new)]
    for option, value in outputs:
        for side, path in zip(("OLD", "NEW"), inputs):
            if _same_path(value, path):
                raise ReportError(f"{option} {value} is the {side} result file ({path}); "
                                  f"writing there would replace it, so give another file name")
    if len(outputs) == 2 and _same_path(outputs[0][1], outputs[1][1]):
        raise ReportError(f"--csv and --markdown name the same file ({args.csv}); give two "
                          f"file names")
    # Like the suite's export, the comparison is written only as a new file: an existing
    # one may be another run's result file or report, a device, a FIFO or a link.
    for option, value in outputs:
        problem = new_file_problem(value, purpose="for the comparison")
        if problem:
            raise ReportError(f"{option}: {problem}")
    old_run, new_run = load_run(args.old), load_run(args.new)
    if problem := one_run_twice(old_run, new_run):
        raise ReportError(problem)
    comparison = compare_runs(old_run, new_run, delta_pct=args.delta,
                              alpha=args.alpha, threshold_pct=args.threshold)
    names = Path(args.old).as_posix(), Path(args.new).as_posix()
    try:
        if args.csv:
            write_new_file(args.csv, comparison.rows.to_csv(index=False))
        if args.markdown:
            write_new_file(args.markdown, to_markdown(comparison, *names))
    except FileExistsError as err:
        raise ReportError(f"{err.filename} appeared while the runs were compared and is left "
                          f"as it was; give the name of a new file") from None
    except OSError as err:
        raise ReportError(f"the comparison could not be written ({_os_error(err)})") from None
    _out(to_markdown(comparison, *names, plain=True))  # a terminal's or a pipe's: no escapes
    if args.fail_above is not None:
        failure = gate_failure(comparison, args.fail_above)
        if failure:
            print(f"{prog}: {failure}", file=sys.stderr)
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


def check_output_dir(option: str, value: str, shown: str | None = None) -> None:
    """Refuse, in one sentence, an output folder that is a file or lies in one that can't
    be written (checked before anything is read, so that nothing is written partly)."""
    shown = shown or value
    if not value.strip():
        raise ReportError(f"{option}: expected a folder, got an empty value")
    try:
        existing = _nearest_existing(Path(value))
    except OSError as err:  # a name too long for the file system, say
        raise ReportError(f"{option} {shown}: {err.strerror or err}") from None
    if not existing.is_dir():
        raise ReportError(f"{option} {shown}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ReportError(f"{option} {shown}: the folder {existing} is not writable")
