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

Usage (from the repository root, the project importable)::

    python tools/trace_report_path.py [RESULT] [--list] [--calls-only]

RESULT defaults to tests/fixtures/run3.json (a format-3 file); ``--list`` prints every stop;
``--calls-only`` leaves out the returns (a module is then revisited only when a call enters
it again, as when two modules call back and forth). Prints the number of stops, the returns
to a module already left, and the visits per module; then the *call-backs*: calls (kept as
above) from one module into another that is already on the call stack beneath it, as when
A calls B and B calls back into A. A driver that calls its stages one after another returns
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


def trace(result: Path, calls_only: bool = False,
          callbacks: list[str] | None = None) -> list[str]:
    """The path (module per stop) of one report build of ``result``; with ``calls_only``,
    only the stops made by a call (a return to the caller is no stop then). Each call-back
    (see the module's docstring) is appended to ``callbacks`` as "caller -> callee:function"."""
    import importlib
    import pkgutil

    import reports
    from reports.cli import main

    # Import every report module first, so that the path does not depend on which import
    # happens to come first.
    for info in pkgutil.iter_modules(reports.__path__, "reports."):
        if info.name != "reports.__main__":  # which would run the command
            importlib.import_module(info.name)
    events: list[str] = []
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
            keep = all(kept) and frame.f_code.co_name != "<module>" and \
                frame.f_code not in seen
            if keep:
                seen.add(frame.f_code)
            if keep and callbacks is not None and stack and stack[-1] != module \
                    and module in stack:
                callbacks.append(f"{stack[-1]} -> {module}:{frame.f_code.co_name}")
            kept.append(keep)
            stack.append(module)
            if keep:
                events.append(module)
            return
        if not stack:  # the return of the frame that was running when tracing began
            return
        keep = kept.pop()
        stack.pop()
        if keep and stack and not calls_only:
            events.append(stack[-1])

    with tempfile.TemporaryDirectory() as folder, redirect_stdout(io.StringIO()):
        sys.setprofile(profile)
        try:
            status = main(["build", str(result), "--out", str(Path(folder) / "report")])
        finally:
            sys.setprofile(None)
    if status != 0:
        raise SystemExit(f"the build failed with status {status}")
    path = []
    for module in events:
        if not path or path[-1] != module:
            path.append(module)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", nargs="?", default=str(DEFAULT_RESULT))
    parser.add_argument("--list", action="store_true", help="print every stop")
    parser.add_argument("--calls-only", action="store_true",
                        help="count only the stops where a call enters a module")
    args = parser.parse_args(argv)
    callbacks: list[str] = []
    path = trace(Path(args.result), args.calls_only, callbacks)
    visits = collections.Counter(path)
    if args.list:
        for module in path:
            print(module)
    print(f"stops: {len(path)}")
    print(f"returns to a module already left: {len(path) - len(visits)}")
    for module, count in visits.most_common():
        print(f"  {count:3d}  {module}")
    print(f"call-backs into a module on the stack: {len(callbacks)}")
    for callback in callbacks:
        print(f"  {callback}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
