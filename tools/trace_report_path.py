"""Trace the report path: how often control comes back into a module it had already left.

Runs ``sidebyside-reports build RESULT --out DIR`` in this process (``reports.cli.main``)
under ``sys.setprofile`` and keeps only the events of code in the project's packages
(``reports/``, ``results/``, ``frameworks/``, ``benchmarks/``); every other frame (the
standard library, pandas, matplotlib, dataclass-generated methods) is invisible, and a call
through it counts as a call from the last project frame.

How it counts:

- the path is the sequence of project modules (files) that control is in, taken from
  ``call`` and ``return`` events; each function's *first* call (and the return from it) is
  kept, later calls of the same function are left out, so that the path follows the code's
  calls and not the number of rows or points in the file (a call made inside a call that
  is left out is left out too);
- a module's own code (run by an import) is no call: every report module is imported before
  the trace begins;
- a *stop* is a step of that path into another module than the one before it (the first
  module counts as a stop);
- a *return to a module already left* is a stop in a module that the path had been in
  before; the count is stops minus distinct modules.

The *stages*: the same path seen as the issue of a pipeline sees it, through the report
modules that make a part of the report (a section, a figure, a file) and the driver that
calls them. Left out, as the standard library is: the result model's packages
(``results/``, ``frameworks/``, ``benchmarks/``), which every report module reads, and the
report's *shared helpers*, found from the trace itself: a report module that calls no other
report module and is called from two or more (the cells of a table, plain text, the
epochs in words). For the stages it prints their path's stops, its returns to a stage
already left (a driver's return from each stage it called counts: a pipeline of n stages
has n) and its *re-entries*: calls into a stage that control had already left, as when a
driver calls two functions of one stage, or a stage calls a function of another that it
had called before. A pipeline enters each stage once: no re-entry. The stages' path follows
the first-call rule above, so a module first called from inside a repeated call (as
reports/latex_longtable.py is, from latex.py's second table) is not on it; the call-backs and
the helpers are found from every call.

Usage (from the repository root, the project importable)::

    python tools/trace_report_path.py [RESULT] [--list] [--calls-only] [--stages]

RESULT defaults to tests/fixtures/run3.json (a format-3 file); ``--list`` prints every stop
(with ``--stages``, every stage's);
``--calls-only`` leaves out the returns (a module is then revisited only when a call enters
it again, as when two modules call back and forth). Prints the number of stops, the returns
to a module already left, and the visits per module; then the *call-backs*: calls (every
call, including those that the first-call rule leaves off the path, each caller, callee and
function once) from one module into another that is already on the call stack beneath it, as
when A calls B and B calls back into A. A driver that calls its stages one after another returns
to itself once per stage, which the count of returns counts and this one does not: the
call-backs are the back and forth between modules that a pipeline does not have.
"""

from __future__ import annotations

import argparse
import collections
import functools
import io
import sys
import tempfile
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("reports", "results", "frameworks", "benchmarks")
DEFAULT_RESULT = ROOT / "tests" / "fixtures" / "run3.json"


@functools.cache  # called for every Python call of the build: resolving paths is slow
def _module(filename: str) -> str | None:
    """The project module of a code object's file (``reports/build.py``), or None."""
    try:
        relative = Path(filename).resolve().relative_to(ROOT)
    except ValueError:
        return None
    return relative.as_posix() if relative.parts[0] in PACKAGES else None


class Trace:
    """One report build's project events: ``events``, the kept calls and returns in order as
    (kind, module, caller module, function) with kind "call" or "return" (a return's module
    is the one control comes back to, its caller module None); ``callers``, per module, the
    project modules that called it (every call, kept or not); ``callbacks`` as
    "caller -> callee:function", each once, from every call, kept or not (see the module's
    docstring)."""

    def __init__(self):
        self.events: list[tuple[str, str, str | None, str]] = []
        self.callers: dict[str, set[str]] = collections.defaultdict(set)
        self.callbacks: list[str] = []

    def path(self, calls_only: bool = False, hidden=frozenset()) -> list[str]:
        """The modules control is in, one per stop (repeats in a row merged), without the
        ``hidden`` ones; with ``calls_only`` only the stops made by a call."""
        path = []
        for kind, module, _, _ in self.events:
            if module in hidden or (calls_only and kind == "return"):
                continue
            if not path or path[-1] != module:
                path.append(module)
        return path

    def helpers(self) -> set[str]:
        """The report's shared helpers: report modules that call no other report module and
        are called from two or more."""
        reports = {m for m in self.callers if m.startswith("reports/")}
        calls_report = {caller for callee in reports for caller in self.callers[callee]
                        if caller != callee}
        return {m for m in reports if m not in calls_report
                and len({c for c in self.callers[m] if c.startswith("reports/")} - {m}) >= 2}

    def stage_reentries(self, hidden: set[str]) -> list[str]:
        """The calls into a stage (a module not in ``hidden``) that control had already left,
        as "caller -> callee:function"."""
        left, out, here = set(), [], None
        for kind, module, caller, function in self.events:
            if module in hidden:
                continue
            if kind == "call" and module != here and module in left:
                out.append(f"{caller} -> {module}:{function}")
            if here is not None and module != here:
                left.add(here)
            here = module
        return out


def trace(result: Path) -> Trace:
    """The project events of one report build of ``result`` (see ``Trace``)."""
    import importlib
    import pkgutil

    import reports
    from reports.cli import main

    # Import every report module first, so that the path does not depend on which import
    # happens to come first.
    for info in pkgutil.iter_modules(reports.__path__, "reports."):
        if info.name != "reports.__main__":  # which would run the command
            importlib.import_module(info.name)
    found = Trace()
    seen: set = set()
    kept: list[bool] = []  # per project frame on the stack: whether its call was kept
    stack: list[str] = []  # the modules of the project frames on the stack

    def profile(frame, event, arg):
        if event not in ("call", "return"):
            return
        module = _module(frame.f_code.co_filename)
        if module is None:
            return
        if event == "call":
            # a call inside one that was left out is left out too (its caller is not on the
            # path); a module's own code (an import) is not a call of the report path
            name = frame.f_code.co_name
            caller = stack[-1] if stack else None
            keep = all(kept) and name != "<module>" and frame.f_code not in seen
            if name != "<module>" and caller is not None and caller != module:
                found.callers[module].add(caller)
                # every call, kept or not: a call-back inside a repeated call is one too
                callback = f"{caller} -> {module}:{name}"
                if module in stack and callback not in found.callbacks:
                    found.callbacks.append(callback)
            if keep:
                seen.add(frame.f_code)
                found.events.append(("call", module, caller, name))
            kept.append(keep)
            stack.append(module)
            return
        if not stack:  # the return of the frame that was running when tracing began
            return
        keep = kept.pop()
        stack.pop()
        if keep and stack:
            found.events.append(("return", stack[-1], None, ""))

    with tempfile.TemporaryDirectory() as folder, redirect_stdout(io.StringIO()):
        sys.setprofile(profile)
        try:
            status = main(["build", str(result), "--out", str(Path(folder) / "report")])
        finally:
            sys.setprofile(None)
    if status != 0:
        raise SystemExit(f"the build failed with status {status}")
    return found


def _print_path(path: list[str], listed: bool, what: str) -> None:
    if listed:
        for module in path:
            print(module)
    print(f"{what}stops: {len(path)}")
    print(f"{what}returns to a module already left: {len(path) - len(set(path))}")
    print(f"{what}visits per module (they add up to the stops):")
    for module, count in collections.Counter(path).most_common():
        print(f"  {count:3d}  {module}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", nargs="?", default=str(DEFAULT_RESULT))
    parser.add_argument("--list", action="store_true", help="print every stop")
    parser.add_argument("--calls-only", action="store_true",
                        help="count only the stops where a call enters a module")
    parser.add_argument("--stages", action="store_true",
                        help="also the path through the stages, without the result model "
                             "and the shared helpers, and its re-entries")
    args = parser.parse_args(argv)
    found = trace(Path(args.result))
    _print_path(found.path(args.calls_only), args.list and not args.stages, "")
    print(f"call-backs into a module on the stack: {len(found.callbacks)}")
    for callback in found.callbacks:
        print(f"  {callback}")
    if args.stages:
        helpers = found.helpers()
        model = {m for m in found.callers if not m.startswith("reports/")}
        print(f"shared helpers: {', '.join(sorted(helpers)) or 'none'}")
        _print_path(found.path(args.calls_only, model | helpers), args.list, "stage ")
        reentries = found.stage_reentries(model | helpers)
        print(f"stage re-entries: {len(reentries)}")
        for reentry in reentries:
            print(f"  {reentry}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
