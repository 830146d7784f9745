"""A run's files: its folder, results.json (saved elsewhere when its folder fails), the
workers' scratch folder, the pytest-benchmark export and the report.

The report is built by the reports' own command in a child process (``python -P -m reports
build``), as a user rebuilds it: the benchmark suite does not import reports/, and pandas and
matplotlib stay out of the pytest process.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import results as res
from benchmarks.runner import package_root
from results import format as result_format
from results.atomic import shell_quoted, write_new_file
from results.model import Run

EXPORT_NAME = "benchmark.json"
# The console script (pyproject.toml [project.scripts]); `python -m reports` would import a
# reports.py of the current folder instead of ours (README, "Installing").
REBUILD_COMMAND = "sidebyside-reports build"
# The prefix of the reports' one-sentence errors (reports/cli.py, run as `python -m reports`).
_REPORTS_ERROR_PREFIX = "python -m reports: error: "
# How long a report build that was interrupted gets to remove its staging folder.
_REPORT_STOP_GRACE_S = 10.0


def rebuild_command(results_path: Path) -> str:
    """The command that builds the report of ``results_path``, ready to paste."""
    return f"{REBUILD_COMMAND} {shell_quoted(results_path)}"


def make_run_dir(runs_dir: Path, started) -> Path:
    """Create the run's folder exclusively: a new folder, never one (or a link) already there.

    ``started``: the run's start (a datetime, UTC). Two runs started in the same second get
    ``...-HHMMSS`` and ``...-HHMMSS-2``. Raises OSError when ``runs_dir`` cannot hold a new
    folder.
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


def save_results(path: Path, run: Run, fallbacks=None) -> tuple[Path, str | None]:
    """Write ``run`` (results.model.Run) to ``path``; if that fails (a full disk, say), to a
    new folder elsewhere.

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
            moved = res.write_results(fallback / result_format.RESULTS_FILE_NAME, run)
        except OSError:
            continue
        return moved, (f"the results could not be saved in {path.parent} ({why}); they are "
                       f"in {moved} instead")
    return path, (f"the results could not be saved in {path.parent} ({why}) nor in the home "
                  "or temporary folder; they are lost")


def write_export(paths: list[Path], run: Run) -> list[str]:
    """benchmark.json (for `pytest-benchmark compare`) at each of ``paths``, each a new file;
    returns one sentence per path that could not be written."""
    from benchmarks.export import benchmark_json

    text = json.dumps(benchmark_json(run), indent=1)
    problems = []
    for path in paths:
        try:
            write_new_file(path, text)
        except OSError as err:
            why = ("a file of that name appeared during the run and is left as it was"
                   if isinstance(err, FileExistsError) else err.strerror or str(err))
            problems.append(f"benchmark.json could not be written to {shell_quoted(path)} "
                            f"({why})")
    return problems


def report_command(results_path: Path, out_dir: Path) -> list[str]:
    """The command that builds the report: the reports' own, run with -P so that a
    reports.py in the current folder cannot shadow ours (PYTHONPATH points at ours)."""
    return [sys.executable, "-P", "-m", "reports", "build", str(results_path), "--out",
            str(out_dir)]


def build_report(results_path: Path, out_dir: Path) -> tuple[Path | None, str | None]:
    """Build the report of ``results_path`` into ``out_dir`` in a child process.

    Returns (the report folder, None), or (None, why it could not be built: the reports'
    one sentence, or the last line of its traceback). Ctrl-C or SIGTERM while it runs
    (KeyboardInterrupt) stops the child, which removes its half-built report, and passes
    through.
    """
    env = os.environ | {"PYTHONPATH": os.pathsep.join(
        filter(None, [str(package_root()), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(report_command(results_path, out_dir), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, errors="replace", env=env)
    try:
        _, stderr = child.communicate()
    except BaseException:
        _stop(child)
        raise
    if child.returncode == 0:
        return out_dir, None
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else f"the report command exited with status {child.returncode}"
    return None, last.removeprefix(_REPORTS_ERROR_PREFIX)


def _stop(child: subprocess.Popen) -> None:
    """Stop an interrupted report build the way its command is stopped by hand: Ctrl-C from
    a terminal has reached it too, so it gets a moment to end on its own, then SIGTERM
    (which it handles like Ctrl-C), then SIGKILL."""
    for send in (None, signal.SIGTERM, signal.SIGKILL):
        if send is not None:
            child.send_signal(send)
        try:
            child.communicate(timeout=_REPORT_STOP_GRACE_S if send else 1.0)
            return
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
            child.kill()
            child.wait()
            raise


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


def make_scratch() -> str:
    """A new scratch folder for this run's workers (their temporary files and caches),
    after removing those of runs killed before their end (SIGKILL), which no run removed."""
    remove_stale_scratch(Path(tempfile.gettempdir()))
    return tempfile.mkdtemp(prefix=scratch_prefix())
