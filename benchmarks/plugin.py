"""The pytest plugin behind `pytest --benchmark`: its hooks, and the run from start to summary.

pytest runs one test per row; the rows' worker processes are run by the first of those
tests (benchmarks/coordinator.py: every block's process set 0, then every block's set 1,
...; a block's workers stay resident and are sampled in interleaved rounds,
benchmarks/schedule.py), and each test then reports its own row. results.json
(docs/result_format.md) is rewritten after every process, so an interrupted run keeps all
but the process set in flight. The options are benchmarks/command_line.py's; the run's
files, the export and the report are benchmarks/run_folder.py's.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import pytest

from benchmarks import command_line, interrupt, progress, schedule
from benchmarks import results as res
from benchmarks import shard as shards
from benchmarks.coordinator import Coordinator, check_valgrind
from benchmarks.plan import Plan, Row
from benchmarks.run_folder import (
    EXPORT_NAME,
    build_report,
    make_run_dir,
    make_scratch,
    rebuild_command,
    save_results,
    write_export,
)
from benchmarks.runner import ROOT
from benchmarks.table import cost_lines, side_by_side
from results import estimate, model
from results.atomic import shell_quoted as _quoted
from results.format import BUSY_WARNING_PREFIX, RESULTS_FILE_NAME

BENCH_DIR = ROOT / "benchmarks"
TESTS_DIR = ROOT / "tests"
# The workers' faults (benchmarks/worker_steps.py), and one of the coordinator's:
# "hang:report" hangs where the report is built, for the tests of an interrupt there.
FAULT_ENV = "SIDEBYSIDE_INJECT_FAULT"


def pytest_addoption(parser):
    command_line.add_options(parser)


def pytest_ignore_collect(collection_path, config):
    """Plain `pytest` collects tests/ only; `pytest --benchmark` collects benchmarks/ only."""
    path = Path(collection_path)
    if config.getoption("benchmark"):
        return True if path == TESTS_DIR or TESTS_DIR in path.parents else None
    return True if path == BENCH_DIR or BENCH_DIR in path.parents else None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if any(config.getoption(name, False) for name in command_line.SHOWS_ONLY):
        return
    if not config.getoption("benchmark"):
        given = config.args_source == pytest.Config.ArgsSource.ARGS  # not testpaths
        asked = [Path(arg.split("::")[0]).resolve() for arg in config.args] if given else []
        if any(p == BENCH_DIR or BENCH_DIR in p.parents for p in asked):
            raise pytest.UsageError("the benchmark suite runs with `pytest --benchmark`; "
                                    "plain `pytest` runs the tests")
        return
    plan, shard = command_line.plan_and_shard(config)
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        # No test path given: run the suite's own bench files wherever pytest was started.
        # Without this, an installed suite run from another folder collects nothing, and so
        # does `--report-dir DIR` (with a space): pytest picks its rootdir and ini file from
        # the bare DIR before any plugin is loaded, so neither testpaths nor python_files
        # (bench_*.py) apply. A file named on the command line is collected whatever the ini.
        config.args[:] = [str(path) for path in sorted(BENCH_DIR.glob("bench_*.py"))]
    runs_dir = command_line.check_other_options(config)
    # pytest-benchmark's fixture is not used (the workers time themselves): its notice that
    # it saved nothing for --benchmark-json is not news; the export is written instead.
    warnings.filterwarnings("ignore", message="Not saving anything, no benchmarks")
    # From here on SIGTERM and SIGHUP are Ctrl-C: the run stops, says so, and keeps what it
    # measured.
    previous_handlers = interrupt.install()
    suite = None
    try:
        suite = Suite(config, plan, previous_handlers, shard)
        suite.open(runs_dir)  # raises UsageError when the folder cannot be written
    except BaseException as stop:
        if suite is not None:
            suite.cleanup()  # no run folder, no scratch: nothing has run
        interrupt.restore(previous_handlers)
        if isinstance(stop, KeyboardInterrupt):
            sys.stderr.write(f"sidebyside: interrupted by {interrupt.stop_name(stop)} before "
                             "the first worker started: nothing was measured and no run "
                             "folder was written\n")
        raise
    config.pluginmanager.register(suite, "sidebyside-suite")
    config.add_cleanup(suite.cleanup)


class Suite:
    """One `pytest --benchmark` run: runs the schedule, keeps every outcome, writes the results."""

    def __init__(self, config, plan: Plan, previous_handlers=None,
                 shard: shards.Shard | None = None):
        """Plan the run; nothing is written until ``open``. ``previous_handlers``: the
        SIGTERM and SIGHUP handlers to restore at the end (pytest_configure has installed
        the suite's); ``shard``: run only that part of the plan (``--shard I/N``)."""
        self.config, self.plan, self.shard = config, plan, shard
        self._previous_handlers = previous_handlers
        self.run_dir, self.scratch = None, None
        self.started = datetime.datetime.now(datetime.UTC)
        self.rows = shards.rows_of(plan, shard)
        self.interrupted_by = None
        self.coordinator = None  # made when the first test asks for its row's outcome
        self.save_note = None  # a sentence when results.json had to go elsewhere
        self.report_dir, self.report_error = None, None
        self.finish_interrupted_by = None  # Ctrl-C or SIGTERM after the last process
        self.finished = False  # pytest_sessionfinish has run
        self.run = res.new_run(plan, self.rows, ["pytest", *sys.argv[1:]],
                               self.started.isoformat(timespec="seconds"),
                               res.load_now(sample_s=1.0), shard)
        cores = os.cpu_count() or 1
        if plan.threads > cores:
            self.run.warnings.append(f"--threads {plan.threads} is above the {cores} cores "
                                     "of this machine: the threads compete for cores")
        if self.run.environment.busy_before:
            self.run.warnings.append(
                f"{BUSY_WARNING_PREFIX}{self.run.environment.busy_reason}")
            if plan.affinity == "auto":
                # A pinned worker cannot move off a busy core (see Plan.cpus_for_worker).
                self.plan = plan = dataclasses.replace(plan, affinity="none")
                self.run.plan["affinity"] = "none"
                self.run.warnings.append("--affinity auto: workers not pinned, since the "
                                         "machine is busy")
        self.valgrind = check_valgrind(plan, self.run.warnings)
        self.collect_only = command_line.collects_only(config)

    def open(self, runs_dir: Path) -> None:
        """Make the run's folder (with a first results.json) and its scratch folder; raise
        pytest.UsageError, with nothing made, when ``runs_dir`` cannot hold a run folder."""
        if self.collect_only:  # nothing runs, so nothing is written
            self.run_dir, self.results_path = None, runs_dir / "(not written: nothing runs)"
            return
        try:
            self.run_dir = make_run_dir(runs_dir, self.started)
            self.results_path = self.run_dir / RESULTS_FILE_NAME
            res.write_results(self.results_path, self.run)  # the check: it can be written
        except OSError as err:
            why = ("it is a file, not a folder" if runs_dir.exists() and not runs_dir.is_dir()
                   else err.strerror or str(err))
            raise pytest.UsageError(f"--report-dir: cannot write a run folder in {runs_dir} "
                                    f"({why}); give a writable folder") from None
        # Every worker's temporary files and caches, removed at the end of the run.
        self.scratch = make_scratch()

    # -- pytest hooks -------------------------------------------------------------------

    def pytest_generate_tests(self, metafunc):
        if "row" in metafunc.fixturenames:
            metafunc.parametrize("row", self.rows, ids=[r.id for r in self.rows])

    @pytest.fixture
    def sidebyside(self):
        return self

    def pytest_collection_finish(self, session):
        # -k and ::id select rows: only those are run (the others stay "not run").
        chosen = {item.callspec.params["row"].id for item in session.items
                  if hasattr(item, "callspec") and "row" in item.callspec.params}
        self.selected = [row for row in self.rows if row.id in chosen]
        for row in self.rows:
            if row.id not in chosen:
                self._record(row).reason = "not selected (-k or a test id left it out)"
        if not self.selected and self.run_dir is not None:
            # nothing will run: no run folder of empty tables
            self._discard_run_dir("no row was selected, so nothing ran")

    def pytest_sessionstart(self, session):
        p, shard = self.plan, self.shard
        part = f" (part {shard.index} of {shard.count})" if shard else ""
        self._say(progress.header(len(self.rows), p.processes, p.preset, p.epochs_text(),
                                  p.seeds, p.threads, p.affinity, _quoted(self.results_path),
                                  part))
        for warning in self.run.warnings:
            self._say(f"WARNING: {warning}")

    def pytest_keyboard_interrupt(self, excinfo):
        # Ctrl-C, or SIGTERM turned into one (Terminated), while pytest ran: named as such
        self.interrupted_by = interrupt.stop_name(excinfo.value)

    def pytest_sessionfinish(self, session, exitstatus):
        try:
            self._finish(session, exitstatus)
        except KeyboardInterrupt as stop:
            # Ctrl-C or SIGTERM while saving, exporting or building the report: results.json
            # holds every finished process (it is replaced atomically), and the summary says
            # so and how to build the report; pytest's own exit status for an interruption.
            self.finish_interrupted_by = interrupt.stop_name(stop)
            session.exitstatus = pytest.ExitCode.INTERRUPTED
        finally:
            self.finished = True
            interrupt.restore(getattr(self, "_previous_handlers", None))
            if self.scratch:
                shutil.rmtree(self.scratch, ignore_errors=True)

    def cleanup(self) -> None:
        """At pytest's exit: a session stopped before it began (Ctrl-C while pytest still
        configured or collected) measured nothing, so its run folder and scratch go."""
        if not self.finished and self.run_dir is not None:
            self._discard_run_dir("stopped before the session began")
        if self.scratch and not self.finished:
            shutil.rmtree(self.scratch, ignore_errors=True)
        interrupt.restore(self._previous_handlers)

    def _finish(self, session, exitstatus):
        if self.collect_only or self.run_dir is None:
            return
        if self.interrupted_by is None and exitstatus == pytest.ExitCode.INTERRUPTED:
            self.interrupted_by = "SIGINT"
        run = self.run
        if self.interrupted_by and not any(r.processes for r in run.rows):
            # stopped before the first worker ended: a run folder would hold nothing
            self._discard_run_dir(f"interrupted by {self.interrupted_by} before a worker "
                                  "finished, so nothing was measured")
            return
        run.finished = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        run.environment.load_after = model.Load.from_dict(res.load_now())
        run.interrupted_by = self.interrupted_by
        run.complete = self.interrupted_by is None and all(
            r.status != "not run" for r in self._selected_records())
        run.warnings += res.closing_warnings(run, schedule.MEMORY_BUDGET_BYTES)
        self._save()
        if self.save_note is None:
            self._say(f"sidebyside: building the report in {self.run_dir} ...")
            if os.environ.get(FAULT_ENV) == "hang:report":  # the suite's tests' stand-in for
                time.sleep(10**6)                            # a slow build, to interrupt
            if not self._export() and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED  # not written where asked
            self.report_dir, self.report_error = build_report(self.results_path, self.run_dir)
            if self.report_error and session.exitstatus == pytest.ExitCode.OK:
                # the results are saved, but a run asked for a report and has none: a
                # script that checks the status must not take the run for a whole one
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        elif session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # not saved where asked

    def pytest_terminal_summary(self, terminalreporter):
        tr = terminalreporter
        if self.collect_only:
            return
        if self.run_dir is None:
            tr.write_line(f"sidebyside: {self.discarded_because} and no run folder was written")
            return
        if self.finish_interrupted_by:
            tr.write_line(f"interrupted by {self.finish_interrupted_by} while the results were "
                          f"being saved and the report built: {_quoted(self.results_path)} is "
                          "intact (every finished process); build the report with: "
                          f"{rebuild_command(self.results_path)}", red=True)
            return
        tr.section("sidebyside")
        run = self.run
        for line in side_by_side(run) + cost_lines(run):  # cost: --metric instructions
            tr.write_line(line)
        for flag in run.flags:
            tr.write_line(f"FLAG {flag}", yellow=True)
        for warning in run.warnings:
            tr.write_line(f"WARNING: {warning}", yellow=True)
        if any(r.summary and r.summary.unstable for r in run.rows):
            tr.write_line(f"WARNING: the rows marked UNSTABLE have a headline time whose 95% "
                          f"interval is wider than ±{estimate.UNSTABLE_HALF_WIDTH_PCT:g}% (each "
                          "one's reason is under the table): give more --rounds (samples) or "
                          "--processes, or rerun on a quieter machine", yellow=True)
        if self.interrupted_by:
            tr.write_line(f"interrupted by {self.interrupted_by}: everything measured until "
                          f"then is saved in {_quoted(self.results_path)}", red=True)
        if self.save_note:
            tr.write_line(self.save_note, red=True)
        else:
            tr.write_line(f"results: {_quoted(self.results_path)}")
        if self.report_dir:
            tr.write_line(f"report:  {_quoted(self.report_dir / 'report.html')} (and report.md, "
                          "results.csv, report.tex, plots)")
        elif self.report_error:
            tr.write_line(f"the report could not be built ({self.report_error}); build it "
                          f"again with: {rebuild_command(self.results_path)}", red=True)

    # -- running the schedule -----------------------------------------------------------

    def outcome(self, row: Row) -> model.Row:
        """``row``'s result (results.model.Row), once the whole schedule has run."""
        if self.coordinator is None:
            self.coordinator = Coordinator(self.plan, self.run, self.rows, self.scratch,
                                           say=self._say, save=self._save,
                                           valgrind=self.valgrind)
            try:
                self.coordinator.run_schedule(getattr(self, "selected", self.rows))
            except Exception as err:  # a bug of the suite: recorded, the rows kept so far saved
                self.interrupted_by = f"error: {type(err).__name__}: {err}"
                raise
        return self._record(row)

    # -- saving -------------------------------------------------------------------------

    def _save(self) -> None:
        """Rewrite results.json; when that fails, move it to a folder that works and say so."""
        path, note = save_results(self.results_path, self.run)
        if note and note != self.save_note:
            self._say(note)
        self.results_path, self.save_note = path, note or self.save_note

    def _export(self) -> bool:
        """benchmark.json for `pytest-benchmark compare` (also where --benchmark-json says);
        False when a file could not be written (said on the terminal)."""
        paths = [self.run_dir / EXPORT_NAME]
        extra = self.config.getoption("benchmark_json", None)
        if extra:
            # pytest-benchmark writes nothing there (no test uses its fixture, so it only
            # warns that nothing was run): the export takes its place.
            paths.append(Path(extra))
        problems = write_export(paths, self.run)
        for problem in problems:
            self._say(problem)
        return not problems

    # -- helpers ------------------------------------------------------------------------

    def _discard_run_dir(self, because: str) -> None:
        """Remove the run folder made at the start, when no process has run (it holds only
        the first results.json); ``because`` says why, for the summary."""
        self.discarded_because = because
        for path in (self.results_path, self.run_dir):
            try:
                os.rmdir(path) if path.is_dir() else os.unlink(path)
            except OSError:
                pass
        self.run_dir = None
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _record(self, row: Row) -> model.Row:
        return self.run.rows[self.rows.index(row)]

    def _selected_records(self) -> list[model.Row]:
        return [self._record(row) for row in getattr(self, "selected", self.rows)]

    def _say(self, line):
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        capman = self.config.pluginmanager.get_plugin("capturemanager")
        if tr is None:
            return
        if getattr(tr._tw, "width_of_current_line", 0):
            line = "\n" + line  # after pytest's progress dots, on a line of its own
        if capman is not None:
            with capman.global_and_fixture_disabled():
                tr.write_line(line)
        else:
            tr.write_line(line)
