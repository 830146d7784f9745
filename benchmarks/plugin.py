"""The pytest plugin behind `pytest --benchmark`: options, the interleaved schedule, results.json.

pytest runs one test per row; the rows' worker processes are run by the first of those
tests (every block's process set 0, then every block's set 1, ...; a block's workers stay
resident and are sampled in interleaved rounds, benchmarks/schedule.py), and each test then
reports its own row. results.json (docs/result_format.md) is rewritten after every process,
so an interrupted run keeps all but the process set in flight.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import pytest

from benchmarks import options as opts
from benchmarks import results as res
from benchmarks import schedule
from benchmarks import shard as shards
from benchmarks.runner import ROOT, ResidentWorker, nvidia_gpu_visible, run_process
from benchmarks.table import cost_lines, side_by_side
from results import estimate, summary
from results import format as result_format
from results.atomic import new_file_problem, write_new_file
from results.atomic import shell_quoted as _quoted
from results.model import Run

BENCH_DIR = ROOT / "benchmarks"
TESTS_DIR = ROOT / "tests"
RESULTS_NAME = "results.json"
EXPORT_NAME = "benchmark.json"
# The workers' faults (benchmarks/worker.py), and one of the coordinator's: "hang:report" hangs
# where the report is built, for the tests of an interrupt there.
FAULT_ENV = "SIDEBYSIDE_INJECT_FAULT"
# The console script (pyproject.toml [project.scripts]); `python -m reports` would import a
# reports.py of the current folder instead of ours (README, "Installing").
REBUILD_COMMAND = "sidebyside-reports build"
# Relative, so under the current working directory: never inside the installed package.
DEFAULT_RUNS_DIR = Path(result_format.DEFAULT_RUNS_DIR)

# Rough seconds for the run-time estimate printed before a run: a worker's start (import,
# build; torch.compile's first epoch) and microseconds per step at small and large batches.
# Measured on the 2-core development machine with the default preset; only an estimate,
# refined by the ETA after every process.
_START_S = {"numpy": 0.5, "torch": 2.5, "keras-tensorflow": 5.0, "keras-jax": 4.0,
            "keras-torch": 5.0}
_EXTRA_FIRST_EPOCH_S = {"torch-compile": 15.0, "keras-tensorflow-fit-xla": 3.0,
                        "keras-jax-fit": 2.0}
_US_PER_STEP = {"small": 800.0, "large": 4000.0, "keras-fit-small": 2500.0}


def pytest_addoption(parser):
    group = parser.getgroup("sidebyside", "sidebyside: the side-by-side benchmark suite")
    group.addoption("--benchmark", action="store_true",
                    help="run the benchmark suite in benchmarks/ (without it: the tests)")
    group.addoption("--preset", default="default", metavar="NAME",
                    help=f"what to run unless overridden: {', '.join(opts.PRESETS)} "
                         "(quick: a smoke run, every CPU variant once; default: the course "
                         "rows and each framework's fastest gear in 3 processes, about 6 "
                         "minutes on 2 cores; gpu: the CUDA rows alone; full: every variant, "
                         "numbers worth publishing; sweep: batch and width sweeps for the Scaling "
                         "section; distributed: the data-parallel rows beside their "
                         "single-process twins)")
    group.addoption("--impl", metavar="LIST",
                    help="implementations or variants, comma-separated: "
                         f"{', '.join(opts.VARIANTS)}; or an implementation's name for all "
                         "its modes but the data-parallel ones (default: the preset's); a "
                         "data-parallel variant brings its single-process twin")
    group.addoption("--device", metavar="LIST", help="cpu, cuda (default: both; CUDA rows "
                    "are skipped with the reason where there is no GPU)")
    group.addoption("--batch-size", metavar="LIST", help="batch sizes, e.g. 32,1024 (at most "
                    "--n-train)")
    group.addoption("--epochs", metavar="N", help="training epochs per seed")
    group.addoption("--seeds", metavar="LIST", help="seeds, e.g. 0,1,2, spread over the "
                    "processes (accuracy is reported as mean and spread over them)")
    group.addoption("--rounds", metavar="N", help="one-epoch samples per worker process, "
                    "taken in rounds interleaved over the rows of a block, after training "
                    "(data-parallel rows: at least this many steady-state epochs)")
    group.addoption("--processes", metavar="N", help="worker processes per row, each a "
                    "draw of process-level effects (default: by preset; at most "
                    f"{opts.MAX_PROCESSES})")
    group.addoption("--affinity", metavar="CPUS",
                    help="pin each worker to these CPUs (e.g. 0 or 0,1); none: not pinned; "
                         "auto (default): as many CPUs as threads, the last ones")
    group.addoption("--replicas", metavar="N",
                    help="replicas of each data-parallel row (torch-ddp, keras-jax-dp, "
                         "keras-tensorflow-mirrored; default 2; at most "
                         f"{opts.THREADS_PER_CORE_MAX} x the cores); rows that cannot have N "
                         "are skipped with the reason")
    group.addoption("--n-train", metavar="N", help="training samples")
    group.addoption("--sweep", metavar="AXIS=LIST", action="append",
                    help="measure every row at each of these sizes, one axis at a time: "
                         "batch=1,16,256,4096 (batch sizes), hidden=16,256,4096 (SimpleNet's "
                         "hidden width) or n_train=1000,10000 (training samples); the other "
                         "sizes stay the preset's; the report gains a Scaling section")
    group.addoption("--threads", metavar="N",
                    help=f"threads per framework (default {opts.DEFAULT_THREADS}; at most "
                         f"{opts.THREADS_PER_CORE_MAX} x the cores: {opts.max_threads()} here)")
    group.addoption("--target-accuracy", metavar="FRACTION",
                    help="test accuracy for time-to-accuracy (default: Bayes accuracy - "
                         f"{opts.TARGET_GAP})")
    group.addoption("--worker-timeout", metavar="SECONDS",
                    help="a worker process is stopped after this long and its row failed "
                         "(seconds, more than 0 and at most a week)")
    group.addoption("--metric", metavar="NAME",
                    help="time (default), or instructions: also count each CPU row's training "
                         "step under valgrind's callgrind, after the timed processes "
                         "(instructions per step, deterministic; needs valgrind)")
    group.addoption("--overhead-check", action="store_true",
                    help="also time each row's train_epoch with a bare loop in the same "
                         "worker, in 7 alternating blocks of 3 + 3 epochs, and report the ratio")
    group.addoption("--shard", metavar="I/N",
                    help="run the I-th of N disjoint parts of the plan (I from 1 to N), "
                         "each a whole group of rows compared with each other (a device and "
                         "batch size); `sidebyside-reports merge` joins the parts' results")
    group.addoption("--report-dir", metavar="DIR",
                    help=f"where each run's folder goes (default: ./{DEFAULT_RUNS_DIR} in the "
                         "current folder); in a checkout that is not pip-installed write "
                         "--report-dir=DIR: there pytest reads a bare existing folder as a "
                         "place to look for tests before it loads the suite")


def pytest_ignore_collect(collection_path, config):
    """Plain `pytest` collects tests/ only; `pytest --benchmark` collects benchmarks/ only."""
    path = Path(collection_path)
    if config.getoption("benchmark"):
        return True if path == TESTS_DIR or TESTS_DIR in path.parents else None
    return True if path == BENCH_DIR or BENCH_DIR in path.parents else None


# Options with which pytest runs no test: --help and --markers configure the plugins and stop;
# --collect-only, --fixtures, --fixtures-per-test only collect. No run folder for them.
_SHOWS_ONLY = ("help", "markers")
_COLLECTS_ONLY = ("collectonly", "showfixtures", "show_fixtures_per_test")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if any(config.getoption(name, False) for name in _SHOWS_ONLY):
        return
    if not config.getoption("benchmark"):
        given = config.args_source == pytest.Config.ArgsSource.ARGS  # not testpaths
        asked = [Path(arg.split("::")[0]).resolve() for arg in config.args] if given else []
        if any(p == BENCH_DIR or BENCH_DIR in p.parents for p in asked):
            raise pytest.UsageError("the benchmark suite runs with `pytest --benchmark`; "
                                    "plain `pytest` runs the tests")
        return
    try:
        plan = opts.make_plan(
            preset=config.getoption("preset"), impl=config.getoption("impl"),
            device=config.getoption("device"), batch_size=config.getoption("batch_size"),
            epochs=config.getoption("epochs"), seeds=config.getoption("seeds"),
            rounds=config.getoption("rounds"), n_train=config.getoption("n_train"),
            threads=config.getoption("threads"),
            worker_timeout=config.getoption("worker_timeout"),
            target_accuracy=config.getoption("target_accuracy"),
            overhead_check=config.getoption("overhead_check"),
            processes=config.getoption("processes"), affinity=config.getoption("affinity"),
            sweep=config.getoption("sweep"), replicas=config.getoption("replicas"),
            metric=config.getoption("metric"))
        shard = shards.parse(config.getoption("shard"))
        shards.rows_of(plan, shard)  # N above the plan's groups of rows: refused here
    except opts.OptionError as err:
        raise pytest.UsageError(str(err)) from None
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        # No test path given: run the suite's own bench files wherever pytest was started.
        # Without this, an installed suite run from another folder collects nothing, and so
        # does `--report-dir DIR` (with a space): pytest picks its rootdir and ini file from
        # the bare DIR before any plugin is loaded, so neither testpaths nor python_files
        # (bench_*.py) apply. A file named on the command line is collected whatever the ini.
        config.args[:] = [str(path) for path in sorted(BENCH_DIR.glob("bench_*.py"))]
    for name in ("benchmark_only", "benchmark_skip"):
        if config.getoption(name, False):
            raise pytest.UsageError(
                f"--{name.replace('_', '-')} picks tests by pytest-benchmark's fixture, which "
                "the suite's rows do not use; leave it out (`pytest --benchmark` runs the rows)")
    if not plan.rows():
        raise pytest.UsageError(
            f"no rows to run: {', '.join(plan.variants)} cannot run on "
            f"{', '.join(plan.devices)}; choose another --device or other --impl")
    # pytest-benchmark's fixture is not used (the workers time themselves): its notice that
    # it saved nothing for --benchmark-json is not news; the export is written instead.
    warnings.filterwarnings("ignore", message="Not saving anything, no benchmarks")
    report_dir = config.getoption("report_dir")
    if report_dir is not None and not report_dir.strip():
        raise pytest.UsageError("--report-dir: expected a folder, got an empty value; leave "
                                f"the option out for ./{DEFAULT_RUNS_DIR}")
    export = config.getoption("benchmark_json", None)
    if export is not None and not any(config.getoption(n, False) for n in _COLLECTS_ONLY):
        problem = new_file_problem(Path(export))
        if problem:
            raise pytest.UsageError(f"--benchmark-json: {problem}")
    runs_dir = Path(report_dir or DEFAULT_RUNS_DIR)
    # From here on SIGTERM and SIGHUP are Ctrl-C: the run stops, says so, and keeps what it
    # measured.
    previous_sigterm = {sig: signal.signal(sig, _on_sigterm) for sig in _STOP_SIGNALS}
    suite = None
    try:
        suite = Suite(config, plan, previous_sigterm, shard)
        suite.open(runs_dir)  # raises UsageError when the folder cannot be written
    except BaseException as stop:
        if suite is not None:
            suite.cleanup()  # no run folder, no scratch: nothing has run
        _restore(previous_sigterm)
        if isinstance(stop, KeyboardInterrupt):
            name = _stop_name(stop)
            sys.stderr.write(f"sidebyside: interrupted by {name} before the first worker "
                             "started: nothing was measured and no run folder was written\n")
        raise
    config.pluginmanager.register(suite, "sidebyside-suite")
    config.add_cleanup(suite.cleanup)


def rebuild_command(results_path: Path) -> str:
    """The command that builds the report of ``results_path``, ready to paste."""
    return f"{REBUILD_COMMAND} {_quoted(results_path)}"


def make_run_dir(runs_dir: Path, started: datetime.datetime) -> Path:
    """Create the run's folder exclusively: a new folder, never one (or a link) already there.

    Two runs started in the same second get ``...-HHMMSS`` and ``...-HHMMSS-2``. Raises
    OSError when ``runs_dir`` cannot hold a new folder.
    """
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%d-%H%M%S")  # UTC stamps sort by time
    for attempt in range(1, 1000):
        path = runs_dir / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            path.mkdir()  # fails on anything that exists, a link included
        except FileExistsError:
            continue
        return path
    raise FileExistsError(errno.EEXIST, "too many runs in one second", str(runs_dir))


def save_results(path: Path, run: dict, fallbacks=None) -> tuple[Path, str | None]:
    """Write ``run`` to ``path``; if that fails (a full disk, say), to a new folder elsewhere.

    Returns where the file is now and, when it moved or could not be written at all, one
    sentence for the user. ``fallbacks`` are the folders tried in turn (default: the home
    folder, the temporary folder, /dev/shm).
    """
    try:
        return res.write_results(path, run), None
    except OSError as err:
        why = err.strerror or str(err)
    for folder in fallbacks or (Path.home(), Path(tempfile.gettempdir()), Path("/dev/shm")):
        try:
            fallback = Path(tempfile.mkdtemp(prefix="sidebyside-results-", dir=folder))
            moved = res.write_results(fallback / RESULTS_NAME, run)
        except OSError:
            continue
        return moved, (f"the results could not be saved in {path.parent} ({why}); they are "
                       f"in {moved} instead")
    return path, (f"the results could not be saved in {path.parent} ({why}) nor in the home "
                  "or temporary folder; they are lost")


# A run's scratch folder in $TMPDIR: sidebyside-run-<pid>-<start>-<random>, with the pid of
# the pytest process that owns it and that process's start time (whole seconds since the
# epoch, psutil), so that a later run can tell a dead run's folder from a live one's even
# when the pid has been reused.
_SCRATCH_PREFIX = "sidebyside-run-"
_SCRATCH_NAME = re.compile(re.escape(_SCRATCH_PREFIX) + r"(\d+)-(\d+)-")


def _started_s(pid: int) -> int | None:
    """When process ``pid`` started (whole seconds since the epoch), or None if none runs."""
    import psutil

    try:
        return int(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.Error:  # alive, but not ours to read: count it as alive
        return -1


def scratch_prefix() -> str:
    """The prefix of this process's scratch folder (see ``_SCRATCH_NAME``)."""
    return f"{_SCRATCH_PREFIX}{os.getpid()}-{_started_s(os.getpid())}-"


def remove_stale_scratch(tmp: Path) -> list[Path]:
    """Remove the scratch folders in ``tmp`` whose run has ended without removing them (a
    SIGKILLed pytest); return them. A folder counts as stale only when no process with its
    pid runs, or the one that does started at another time (the pid was reused); a live
    run's folder, another user's, and any other name are left alone."""
    removed = []
    try:
        entries = list(os.scandir(tmp))
    except OSError:
        return removed
    for entry in entries:
        match = _SCRATCH_NAME.match(entry.name)
        try:
            if not match or not entry.is_dir(follow_symlinks=False) or \
                    entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
        except OSError:
            continue
        started = _started_s(int(match[1]))
        if started is not None and started in (-1, int(match[2])):
            continue  # its run is alive
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(Path(entry.path))
    return removed


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (the terminal closed), handled as Ctrl-C: workers stopped, results
    saved, a non-zero exit. ``args[0]``: the signal's name."""


def _on_sigterm(signum, frame):
    raise Terminated(signal.Signals(signum).name)


def _stop_name(stop: BaseException) -> str:
    """The signal that stopped the run: SIGTERM or SIGHUP (``Terminated``), else Ctrl-C."""
    return stop.args[0] if isinstance(stop, Terminated) and stop.args else "SIGINT"


# Signals handled as Ctrl-C from configuration to the end of the session.
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _restore(previous: dict | None) -> None:
    """Put back the handlers that ``_STOP_SIGNALS`` had before the suite's (the default
    where none is known)."""
    for sig in _STOP_SIGNALS:
        signal.signal(sig, (previous or {}).get(sig) or signal.SIG_DFL)


class Suite:
    """One `pytest --benchmark` run: runs the schedule, keeps every outcome, writes the results."""

    def __init__(self, config, plan: opts.Plan, previous_sigterm=None,
                 shard: shards.Shard | None = None):
        """Plan the run; nothing is written until ``open``. ``previous_sigterm``: the
        SIGTERM and SIGHUP handlers to restore at the end (pytest_configure has installed
        the suite's);
        ``shard``: run only that part of the plan (``--shard I/N``)."""
        self.config, self.plan = config, plan
        self._previous_sigterm = previous_sigterm
        self.run_dir, self.scratch = None, None
        self.started = datetime.datetime.now(datetime.UTC)
        self.rows = shards.rows_of(plan, shard)
        self.interrupted_by = None
        self.scheduled = False
        self.save_note = None  # a sentence when results.json had to go elsewhere
        self.report_dir, self.report_error = None, None
        self.finish_interrupted_by = None  # Ctrl-C or SIGTERM after the last process
        self.finished = False  # pytest_sessionfinish has run
        load_before = res.load_now(sample_s=1.0)
        self.run = {
            "format": res.RESULTS_FORMAT, "format_version": res.RESULTS_FORMAT_VERSION,
            "started": self.started.isoformat(timespec="seconds"), "finished": None,
            "complete": False, "interrupted_by": None, "plan": plan.to_dict(),
            "environment": res.environment(["pytest", *sys.argv[1:]], load_before),
            "rows": [res.new_row(row, plan.n_train) for row in self.rows], "flags": [],
            "warnings": [], "run_id": uuid.uuid4().hex,
        }
        if shard is not None:
            self.run["shard"] = shard.to_dict(plan)
        cores = os.cpu_count() or 1
        if plan.threads > cores:
            self.run["warnings"].append(f"--threads {plan.threads} is above the {cores} cores "
                                        "of this machine: the threads compete for cores")
        if self.run["environment"]["busy_before"]:
            self.run["warnings"].append("the machine was busy before the run: "
                                        f"{self.run['environment']['busy_reason']}")
            if plan.affinity == "auto":
                # A pinned worker cannot move off a busy core (see Plan.cpus_for_worker).
                self.plan = plan = dataclasses.replace(plan, affinity="none")
                self.run["plan"]["affinity"] = "none"
                self.run["warnings"].append("--affinity auto: workers not pinned, since the "
                                            "machine is busy")
        self.valgrind = self._check_valgrind()
        self.collect_only = any(config.getoption(name, False) for name in _COLLECTS_ONLY)

    def open(self, runs_dir: Path) -> None:
        """Make the run's folder (with a first results.json) and its scratch folder; raise
        pytest.UsageError, with nothing made, when ``runs_dir`` cannot hold a run folder."""
        if self.collect_only:  # nothing runs, so nothing is written
            self.run_dir, self.results_path = None, runs_dir / "(not written: nothing runs)"
            return
        try:
            self.run_dir = make_run_dir(runs_dir, self.started)
            self.results_path = self.run_dir / RESULTS_NAME
            res.write_results(self.results_path, self.run)  # the check: it can be written
        except OSError as err:
            why = ("it is a file, not a folder" if runs_dir.exists() and not runs_dir.is_dir()
                   else err.strerror or str(err))
            raise pytest.UsageError(f"--report-dir: cannot write a run folder in {runs_dir} "
                                    f"({why}); give a writable folder") from None
        # Every worker's temporary files and caches, removed at the end of the run; a run
        # killed before its end (SIGKILL) leaves its folder, which a later run removes.
        remove_stale_scratch(Path(tempfile.gettempdir()))
        self.scratch = tempfile.mkdtemp(prefix=scratch_prefix())

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
                self._record(row)["reason"] = "not selected (-k or a test id left it out)"
        if not self.selected and self.run_dir is not None:
            # nothing will run: no run folder of empty tables
            self._discard_run_dir("no row was selected, so nothing ran")

    def pytest_sessionstart(self, session):
        p, shard = self.plan, self.run.get("shard")
        part = f" (part {shard['index']} of {shard['count']})" if shard else ""
        self._say(f"sidebyside: {len(self.rows)} rows{part} x {p.processes} processes, preset "
                  f"{p.preset}, {p.epochs} epochs x seeds {list(p.seeds)}, {p.threads} "
                  f"threads, affinity {p.affinity}; results in {_quoted(self.results_path)}")
        for warning in self.run["warnings"]:
            self._say(f"WARNING: {warning}")

    def pytest_keyboard_interrupt(self, excinfo):
        # Ctrl-C, or SIGTERM turned into one (Terminated), while pytest ran: named as such
        self.interrupted_by = _stop_name(excinfo.value)

    def pytest_sessionfinish(self, session, exitstatus):
        try:
            self._finish(session, exitstatus)
        except KeyboardInterrupt as stop:
            # Ctrl-C or SIGTERM while saving, exporting or building the report: results.json
            # holds every finished process (it is replaced atomically), and the summary says
            # so and how to build the report; pytest's own exit status for an interruption.
            self.finish_interrupted_by = _stop_name(stop)
            session.exitstatus = pytest.ExitCode.INTERRUPTED
        finally:
            self.finished = True
            _restore(getattr(self, "_previous_sigterm", None))
            if self.scratch:
                shutil.rmtree(self.scratch, ignore_errors=True)

    def cleanup(self) -> None:
        """At pytest's exit: a session stopped before it began (Ctrl-C while pytest still
        configured or collected) measured nothing, so its run folder and scratch go."""
        if not self.finished and self.run_dir is not None:
            self._discard_run_dir("stopped before the session began")
        if self.scratch and not self.finished:
            shutil.rmtree(self.scratch, ignore_errors=True)
        _restore(self._previous_sigterm)

    def _finish(self, session, exitstatus):
        if self.collect_only or self.run_dir is None:
            return
        if self.interrupted_by is None and exitstatus == pytest.ExitCode.INTERRUPTED:
            self.interrupted_by = "SIGINT"
        run = self.run
        if self.interrupted_by and not any(r["processes"] for r in run["rows"]):
            # stopped before the first worker ended: a run folder would hold nothing
            self._discard_run_dir(f"interrupted by {self.interrupted_by} before a worker "
                                  "finished, so nothing was measured")
            return
        run["finished"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        run["environment"]["load_after"] = res.load_now()
        run["interrupted_by"] = self.interrupted_by
        run["complete"] = self.interrupted_by is None and all(
            r["status"] != "not run" for r in self._selected_records())
        unstable = [r["id"] for r in run["rows"] if r["summary"] and r["summary"]["unstable"]]
        if unstable:
            run["warnings"].append(f"{len(unstable)} rows unstable: {', '.join(unstable)}")
        # Said with the run's warnings as well as beside the row: a twin that computes
        # another function at the installed versions is the first thing a reader must know.
        from frameworks.equivalence import NOT_EQUIVALENT

        unequal = [r["id"] for r in run["rows"] if r["status"] == "skipped"
                   and NOT_EQUIVALENT in (r["reason"] or "")]
        if unequal:
            run["warnings"].append(
                f"{len(unequal)} row{'s' if len(unequal) > 1 else ''} not timed, {NOT_EQUIVALENT} "
                f"(the twin left the numpy reference; its reason says by how much): "
                f"{', '.join(unequal)}")
        resources = run.get("resources") or {}
        budget = resources.get("memory_budget_bytes") or schedule.MEMORY_BUDGET_BYTES
        if (resources.get("peak_resident_total_bytes") or 0) > budget:
            run["warnings"].append(
                f"the workers held {resources['peak_resident_total_bytes'] / 2**30:.2f} GiB "
                f"together at their peak, above the budget of {budget / 2**30:.2f} GiB "
                "(benchmarks/schedule.py's WORKER_RSS_BYTES underestimates a worker here)")
        self._save()
        if self.save_note is None:
            self._say(f"sidebyside: building the report in {self.run_dir} ...")
            if os.environ.get(FAULT_ENV) == "hang:report":  # the suite's tests' stand-in for
                time.sleep(10**6)                            # a slow build, to interrupt
            if not self._export() and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED  # not written where asked
            self._build_report()
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
        run = Run.from_dict(self.run)
        for line in side_by_side(run) + cost_lines(run):  # cost: --metric instructions
            tr.write_line(line)
        for flag in self.run["flags"]:
            tr.write_line(f"FLAG {flag}", yellow=True)
        for warning in self.run["warnings"]:
            tr.write_line(f"WARNING: {warning}", yellow=True)
        if any(r["summary"] and r["summary"]["unstable"] for r in self.run["rows"]):
            tr.write_line(f"WARNING: the rows marked UNSTABLE have a headline time whose 95% "
                          f"interval is wider than ±{estimate.UNSTABLE_HALF_WIDTH_PCT:g}% (the "
                          "reason is beside each): give more --rounds (samples) or --processes, "
                          "or rerun on a quieter machine", yellow=True)
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

    def outcome(self, row: opts.Row) -> dict:
        """``row``'s record in results.json, once the whole schedule has run."""
        if not self.scheduled:
            self.scheduled = True
            try:
                self._run_schedule()
            except Exception as err:  # a bug of the suite: recorded, the rows kept so far saved
                self.interrupted_by = f"error: {type(err).__name__}: {err}"
                raise
        return self._record(row)

    def _run_schedule(self):
        """Every row's processes: process set 0 of every block of rows, then set 1, ...

        The rows of a block (one comparison: device and sizes) are sampled together by
        resident workers (``_run_part``); a block that would not fit the memory budget is
        split (schedule.split_block). Data-parallel rows and their twins run one process at
        a time, sampled by their steady epochs, after each set of blocks.
        """
        rows = getattr(self, "selected", self.rows)
        processes = self.plan.processes
        resident = [row for row in rows if schedule.is_resident(row)]
        apart = [row for row in rows if not schedule.is_resident(row)]
        budget = schedule.memory_budget_bytes()
        parts = [part for block in schedule.blocks(resident)
                 for part in schedule.split_block(block, budget)]
        self.run["resources"] = {
            "memory_budget_bytes": budget, "peak_resident_total_bytes": None,
            "memory_method": schedule.RESIDENT_TOTAL_METHOD,
            "sampled_together": [[row.id for row in part] for part in parts],
            "interleaving": schedule.INTERLEAVING_TEXT,
            "startup": schedule.startup_text(self.plan.startup_cpu_slots(self.plan.threads))}
        self._say(f"sidebyside: {len(rows) * processes} worker processes, about "
                  f"{_minutes(self._estimate_s(rows))} (estimate); rows sampled together: "
                  + "; ".join(f"{len(part)} of {part[0].device} b{part[0].batch_size}"
                              for part in parts))
        # For the progress lines and the ETA: when the schedule began, processes done, in all.
        self._began, self._done_count, self._total = time.perf_counter(), 0, len(rows) * processes
        for index in range(processes):
            for part in parts:
                self._run_part(part, index)
            for row in apart:
                record = self._record(row)
                if index and record["status"] == "skipped":
                    continue  # a row that cannot run here will not run in later processes
                self._say(f"[{self._done_count + 1}/{self._total}] {row.id} "
                          f"process {index + 1}/{processes} ...")
                outcome = run_process(row, self.plan, index, on_progress=self._progress,
                                      scratch_root=self.scratch)
                self._done(record, outcome, index)
        if self.plan.metric == "instructions" and self.valgrind:
            self._run_costs(rows)

    def _run_part(self, part: list[opts.Row], index: int) -> None:
        """Process set ``index`` of the rows of ``part``: their workers start (several at
        once where the machine has CPUs for them: ``_start_workers``), then answer
        ``plan.rounds`` rounds of one timed epoch each, alone, in a fresh random order every
        round (schedule.round_orders), and stop. Ctrl-C or SIGTERM kill every worker of the
        part."""
        part = [row for row in part if not (index and self._record(row)["status"] == "skipped")]
        if not part:
            return
        ids = tuple(row.id for row in part)
        workers = [ResidentWorker(row, self.plan, index, self.scratch, sampled_with=ids,
                                  on_progress=self._progress) for row in part]
        try:
            self._start_workers(workers, index)
            live = [worker for worker in workers if worker.alive]
            if live:
                self._say(f"    sampling {len(live)} rows x {self.plan.rounds} rounds, "
                          "interleaved ...")
            # Seeded by the process set: a run's order can be replayed.
            for order in schedule.round_orders(len(live), self.plan.rounds, seed=index):
                for position, i in enumerate(order):
                    live[i].sample(position)
                self._note_memory()
            for worker in workers:
                self._done(self._record(worker.row), worker.finish(), index)
        finally:
            for worker in workers:
                worker.kill()

    def _start_workers(self, workers: list[ResidentWorker], index: int) -> None:
        """Start ``workers`` in their order, as many at once as ``Plan.startup_cpu_slots``
        has CPU sets, each on a set of its own, and wait until each is ready or has ended."""
        slots = self.plan.startup_cpu_slots(self.plan.threads)
        waiting, starting = list(workers), {}  # slot number -> the worker starting on it
        launched = 0
        while waiting or starting:
            for slot in range(len(slots)):
                if slot in starting or not waiting:
                    continue
                worker = waiting.pop(0)
                launched += 1
                self._say(f"[{self._done_count + launched}/{self._total}] {worker.row.id} "
                          f"process {index + 1}/{self.plan.processes} ...")
                if worker.launch(slots[slot] if len(slots) > 1 else None):
                    starting[slot] = worker
            for slot, worker in list(starting.items()):
                ready = worker.wait_ready(slice_s=None if len(starting) == 1 else 0.05)
                if ready is None:
                    continue
                del starting[slot]
                if ready:
                    self._say(f"    {worker.row.id} ready in "
                              f"{time.perf_counter() - worker.started:.1f} s "
                              "(imported, built, trained its seeds)")
                self._note_memory()

    def _done(self, record: dict, outcome, index: int) -> None:
        """Keep one finished process of a row, and say how it went (with an ETA)."""
        self._done_count += 1
        self._take(record, outcome)
        eta = ((time.perf_counter() - self._began) / self._done_count
               * (self._total - self._done_count))
        line = (f"    {outcome.row.id} process {index + 1}: {outcome.status} in "
                f"{outcome.wall_s:.1f} s")
        if outcome.status == "ok":
            samples = outcome.result.get("samples_epoch_s") or outcome.result["steady_epoch_s"]
            steps = outcome.result["steps_per_epoch"]
            line += f": p10 {estimate.p10(samples) / steps * 1e6:.1f} us/step"
            if outcome.result["cpu"]["starved"]:
                line += f" (starved: {outcome.result['cpu']['starved_reason']})"
        elif outcome.reason:
            line += f": {outcome.reason.splitlines()[0]}"
        self._say(f"{line}; ETA {_minutes(eta)}")
        if index == self.plan.processes - 1:
            self._row_finished(record)

    def _note_memory(self) -> None:
        """Keep the run's peak total resident memory (schedule.resident_total_bytes)."""
        total = schedule.resident_total_bytes()
        resources = self.run["resources"]
        if resources["peak_resident_total_bytes"] is None or \
                total > resources["peak_resident_total_bytes"]:
            resources["peak_resident_total_bytes"] = total

    def _take(self, record: dict, outcome) -> None:
        record["processes"].append(outcome.record())
        record["status"], record["reason"] = res.row_status(record, self.plan.processes)
        if outcome.stderr_tail:
            record["stderr_tail"] = outcome.stderr_tail
        summary.summarize_all(self.run["rows"], opts.SINGLE_TWINS)
        self.run["flags"] = summary.flag_differences(
            {r["id"]: next(p["settings"] for p in r["processes"] if p["status"] == "ok")
             for r in self.run["rows"] if r["summary"]})
        self._save()

    def _row_finished(self, record: dict) -> None:
        s = record["summary"]
        if s is None:
            return
        ci = ("" if s["us_per_step_ci_low"] is None else
              f" [{s['us_per_step_ci_low']:.1f}, {s['us_per_step_ci_high']:.1f}]")
        processes = f"{s['processes_ok']} process{'' if s['processes_ok'] == 1 else 'es'}"
        self._say(f"    {record['id']}: {s['estimator']} {s['us_per_step']:.1f}{ci} us/step "
                  f"(median {s['us_per_step_median']:.1f}) over {processes}, "
                  f"first epoch {s['first_epoch_s']:.2f} s, "
                  f"accuracy {s['test_accuracy_mean']:.4f}")
        if s["unstable"]:
            self._say(f"    UNSTABLE {record['id']}: {'; '.join(s['unstable_reasons'])}")

    def _progress(self, row, index, message):
        if message.get("stage") == "quiet":
            self._say(f"    ... still working ({message['elapsed_s']:.0f} s; a first epoch "
                      "that compiles takes a while)")
        elif message.get("stage") == "epoch" and message["epoch"] == message["epochs"]:
            self._say(f"    seed {message['seed']}: {message['epochs']} epochs, "
                      f"last {message['epoch_s']:.3f} s/epoch, "
                      f"test accuracy {message['test_accuracy']:.4f}")

    def _estimate_s(self, rows) -> float:
        """About how long the workers of ``rows`` take, seconds: each start (import, build,
        first epoch), shared among the workers that start at once, and every epoch."""
        starting = len(self.plan.startup_cpu_slots(self.plan.threads))
        total = 0.0
        for row in rows:
            if row.device == "cuda" and not nvidia_gpu_visible():
                continue
            small = row.batch_size <= 128
            us = _US_PER_STEP["small" if small else "large"]
            if small and row.implementation.startswith("keras") and "fit" in row.mode:
                us = _US_PER_STEP["keras-fit-small"]
            for index in range(self.plan.processes):
                seeds = len(self.plan.seeds_for(index))
                steps = -(-(row.n_train or self.plan.n_train) // row.batch_size)
                epochs = (self.plan.epochs * seeds + self.plan.rounds if schedule.is_resident(row)
                          else max(self.plan.epochs * seeds, self.plan.rounds + 1))
                start_s = (_START_S.get(row.implementation, 3.0)
                           + _EXTRA_FIRST_EPOCH_S.get(row.variant, 0.0))
                if schedule.is_resident(row):
                    start_s /= starting
                total += start_s + epochs * steps * us / 1e6
        return total

    # -- the instructions metric (benchmarks/cost.py) -------------------------------------

    def _check_valgrind(self) -> str | None:
        """The valgrind that ``--metric instructions`` runs; without one, the run's warning
        says in one sentence how to get it, and the time rows run alone."""
        from benchmarks import cost

        if self.plan.metric != "instructions":
            return None
        missing = cost.missing_requirement()
        if missing:
            self.run["warnings"].append(missing)
            return None
        return cost.valgrind_path()

    def _run_costs(self, rows) -> None:
        """Count the rows' steps under callgrind, after every timed process; results.json is
        saved after each cost process, as after each timed one."""
        from benchmarks import cost

        countable = [row for row in rows if cost.not_applicable_reason(row) is None]
        self._say(f"sidebyside: counting instructions per step under callgrind: "
                  f"{len(countable)} rows, {cost.COST_PROCESSES} process"
                  f"{'' if cost.COST_PROCESSES == 1 else 'es'} per variant, "
                  f"{cost.PARALLEL_COST_WORKERS} at a time")
        started = time.perf_counter()

        def heard(row, record, process):
            self._record(row)["cost"] = record
            line = f"    cost {row.id} process {process['index'] + 1}: {process['status']}"
            if process["status"] == "ok":
                line += f", {process['instructions_per_step']:,.0f} instructions/step"
            elif process["reason"]:
                line += f": {process['reason'].splitlines()[0]}"
            self._say(f"{line} ({process['wall_s']:.0f} s)")
            self._save()

        costs = cost.run_cost_pass(rows, self.plan, self.scratch, on_cost=heard,
                                   valgrind=self.valgrind)
        for row in rows:
            self._record(row)["cost"] = costs[row.id]
        self.run["cost_wall_s"] = time.perf_counter() - started
        self._save()

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
        from benchmarks.export import benchmark_json

        text = json.dumps(benchmark_json(self.run), indent=1)
        paths = [self.run_dir / EXPORT_NAME]
        extra = self.config.getoption("benchmark_json", None)
        if extra:
            # pytest-benchmark writes nothing there (no test uses its fixture, so it only
            # warns that nothing was run): the export takes its place.
            paths.append(Path(extra))
        written = True
        for path in paths:
            try:
                write_new_file(path, text)
            except OSError as err:
                why = ("a file of that name appeared during the run and is left as it was"
                       if isinstance(err, FileExistsError) else err.strerror or str(err))
                self._say(f"benchmark.json could not be written to {_quoted(path)} ({why})")
                written = False
        return written

    def _build_report(self) -> None:
        try:
            from reports.build import build_report

            self.report_dir = build_report(self.results_path, self.run_dir)
        except Exception as err:  # the results are saved; a report can be built again later
            # The first error of a chain names the cause: pandas's "C extension: None not
            # built" comes from its "Please upgrade numpy to >= 2.0.2".
            while (err.__cause__ or err.__context__) is not None:
                err = err.__cause__ or err.__context__
            first_line = str(err).splitlines()[0] if str(err) else ""
            self.report_error = f"{type(err).__name__}: {first_line}"

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

    def _record(self, row: opts.Row) -> dict:
        return self.run["rows"][self.rows.index(row)]

    def _selected_records(self) -> list[dict]:
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


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
