"""The plugin's file handling: run folders made exclusively, results kept when saving fails."""

import datetime
import json
import os
import subprocess
from pathlib import Path

import pytest

from benchmarks.interrupt import Terminated
from benchmarks.plugin import Suite
from benchmarks.run_folder import make_run_dir, save_results
from results.model import Run

STARTED = datetime.datetime(2026, 11, 29, 18, 0, 0, tzinfo=datetime.UTC)


def test_two_runs_in_the_same_second_get_different_folders(tmp_path):
    first = make_run_dir(tmp_path, STARTED)
    second = make_run_dir(tmp_path, STARTED)
    assert first != second
    assert first.name == "20261129-180000" and second.name == "20261129-180000-2"


def test_a_link_or_folder_already_there_is_never_written_into(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    runs = tmp_path / "runs"
    runs.mkdir()
    os.symlink(elsewhere, runs / "20261129-180000")
    made = make_run_dir(runs, STARTED)
    assert made.name == "20261129-180000-2" and not made.is_symlink()


def test_results_that_cannot_be_saved_go_elsewhere_and_say_where(tmp_path):
    blocked = tmp_path / "a file"
    blocked.write_text("")
    fallback = tmp_path / "fallback"
    fallback.mkdir()
    path, note = save_results(blocked / "results.json", Run(rows=[1]), fallbacks=[fallback])
    assert path.parent.parent == fallback
    assert json.loads(path.read_text()) == {"rows": [1]}
    assert note.startswith(f"the results could not be saved in {blocked} (")
    assert note.endswith(f"they are in {path} instead")
    assert "\n" not in note


def test_results_saved_where_asked_say_nothing(tmp_path):
    path, note = save_results(tmp_path / "results.json", Run(rows=[]))
    assert (path, note) == (tmp_path / "results.json", None)


def test_a_report_that_could_not_be_built_names_the_command_that_builds_it(tmp_path):
    from types import SimpleNamespace

    from tests import format2

    results = tmp_path / "results.json"
    run = Run.from_dict(format2.run([format2.row("numpy-loop", [100])]))
    suite = SimpleNamespace(collect_only=False, run=run,
                            interrupted_by=None, save_note=None, results_path=results,
                            run_dir=tmp_path, finish_interrupted_by=None,
                            report_dir=None, report_error="ValueError: no plots today")
    lines = []
    terminal = SimpleNamespace(section=lambda *args, **kwargs: None,
                               write_line=lambda line, **kwargs: lines.append(line))
    Suite.pytest_terminal_summary(suite, terminal)
    # The console script, which a reports.py in the current folder cannot replace.
    assert lines[-1] == ("the report could not be built (ValueError: no plots today); build it "
                         f"again with: sidebyside-reports build {results}")


# -- --benchmark-json: checked before measuring, never written over ----------------------------

def test_an_existing_file_a_folder_or_a_link_is_never_an_export_path(tmp_path):
    from results.atomic import new_file_problem

    earlier = tmp_path / "results.json"
    earlier.write_text("{}")
    dangling = tmp_path / "dangling.json"
    os.symlink(tmp_path / "nowhere" / "x.json", dangling)
    assert new_file_problem(earlier) == (f"{earlier} already exists and the suite never "
                                         "overwrites a file; give the name of a new file")
    assert "already exists" in new_file_problem(dangling)
    assert new_file_problem(tmp_path) == (f"{tmp_path} is a folder; give the name of a new "
                                          "file for the export")
    assert new_file_problem(earlier / "x.json") == (f"{earlier} is not a folder, so "
                                                    f"{earlier / 'x.json'} cannot be written")
    # a folder that cannot be written (even by root): /proc takes no new files
    assert "cannot be written (/proc: " in new_file_problem(Path("/proc/x.json"))
    # a new file, also in folders still to be made, is fine; the check leaves nothing behind
    assert new_file_problem(tmp_path / "new" / "sub" / "x.json") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling.json", "results.json"]


def test_the_export_is_never_written_over_a_file_that_appeared_meanwhile(tmp_path):
    from results.atomic import write_new_file

    path = write_new_file(tmp_path / "sub" / "bench.json", "first")
    assert path.read_text() == "first"
    with pytest.raises(FileExistsError):
        write_new_file(path, "second")
    assert path.read_text() == "first"
    assert [p.name for p in path.parent.iterdir()] == ["bench.json"]  # no temporary left


# -- the report, built by the reports' command in a child process ---------------------------

def test_the_report_is_built_by_the_reports_command_in_a_child_process(tmp_path, monkeypatch):
    """The run's report comes from `python -P -m reports build RESULTS --out RUN_DIR`, which
    a reports.py in the current folder cannot replace; the pytest process imports no
    reports module for it."""
    import shutil
    import sys

    from benchmarks import run_folder
    from tests import format2

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    results = run_dir / "results.json"
    shutil.copy(format2.FIXTURES / "run3.json", results)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports.py").write_text("raise SystemExit('the decoy ran')\n")
    before = set(sys.modules)
    assert run_folder.build_report(results, run_dir) == (run_dir, None)
    assert not {name for name in set(sys.modules) - before if name.startswith("reports")}
    assert (run_dir / "report.html").stat().st_size > 0 and (run_dir / "report.md").exists()


@pytest.mark.parametrize(("stderr", "said"), [
    # the reports' own sentence, without its prefix
    ("python -m reports: error: the report could not be written (disk full)",
     "the report could not be written (disk full)"),
    # a bug: the traceback's last line names it
    ("Traceback (most recent call last):\n  File 'x'\nValueError: no plots today",
     "ValueError: no plots today"),
    ("", "the report command exited with status 2"),
])
def test_a_report_that_fails_gives_one_line_and_no_folder(tmp_path, monkeypatch, stderr, said):
    import sys

    from benchmarks import run_folder

    def failing(results_path, out_dir):
        return [sys.executable, "-c", f"import sys; sys.stderr.write({stderr!r}); sys.exit(2)"]

    monkeypatch.setattr(run_folder, "report_command", failing)
    assert run_folder.build_report(tmp_path / "results.json", tmp_path) == (None, said)


# -- paths printed for pasting into a shell --------------------------------------------------

@pytest.mark.parametrize("name", ["plain", "with space", "ünïcödé", "new\nline", "\x1b[31mred",
                                  "it's", "back\\slash\ttab"])
def test_a_printed_command_is_one_line_that_the_shell_reads_back_as_the_path(tmp_path, name):
    from benchmarks.run_folder import rebuild_command

    path = tmp_path / name / "results.json"
    command = rebuild_command(path)
    assert "\n" not in command and "\x1b" not in command
    assert command.startswith("sidebyside-reports build ")
    quoted = command.removeprefix("sidebyside-reports build ")
    echoed = subprocess.run(["bash", "-c", f"printf %s {quoted}"], capture_output=True,
                            text=True, check=True).stdout
    assert echoed == str(path)


# -- scratch folders of runs killed before their end ------------------------------------------

def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid  # reaped: no process has it (until the kernel hands it out again)


def test_a_dead_runs_scratch_is_removed_and_a_live_runs_is_kept(tmp_path):
    import psutil

    from benchmarks.run_folder import remove_stale_scratch, scratch_prefix

    mine = tmp_path / (scratch_prefix() + "live")
    started = int(psutil.Process(os.getpid()).create_time())
    dead = tmp_path / f"sidebyside-run-{_dead_pid()}-{started}-gone"
    reused = tmp_path / f"sidebyside-run-{os.getpid()}-{started - 100}-reused"  # pid reused
    other = tmp_path / "sidebyside-run-notours"
    for folder in (mine, dead, reused, other):
        (folder / "cache").mkdir(parents=True)
    assert sorted(remove_stale_scratch(tmp_path)) == sorted([dead, reused])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, other.name])
    assert remove_stale_scratch(tmp_path / "missing") == []


# -- Ctrl-C or SIGTERM after the last process ------------------------------------------------

class _Session:
    def __init__(self):
        self.exitstatus = pytest.ExitCode.OK


@pytest.mark.parametrize(("stop", "name"), [(KeyboardInterrupt, "SIGINT"),
                                            (Terminated, "SIGTERM")])
def test_an_interrupt_while_the_report_is_built_says_results_json_is_intact(tmp_path, stop,
                                                                            name):
    from types import SimpleNamespace

    results = tmp_path / "run dir" / "results.json"
    lines = []

    def finish(session, exitstatus):
        raise stop("SIGTERM" if stop is Terminated else "")

    suite = SimpleNamespace(_finish=finish, scratch=None, finish_interrupted_by=None,
                            collect_only=False, run_dir=tmp_path, results_path=results)
    session = _Session()
    Suite.pytest_sessionfinish(suite, session, pytest.ExitCode.OK)
    assert session.exitstatus == pytest.ExitCode.INTERRUPTED and suite.finished
    terminal = SimpleNamespace(section=lambda *args, **kwargs: None,
                               write_line=lambda line, **kwargs: lines.append(line))
    Suite.pytest_terminal_summary(suite, terminal)
    assert lines == [f"interrupted by {name} while the results were being saved and the report "
                     f"built: '{results}' is intact (every finished process); build the report "
                     f"with: sidebyside-reports build '{results}'"]


def test_an_export_that_appeared_during_the_run_is_kept_and_the_run_says_so(tmp_path):
    """Two runs given the same new --benchmark-json: the second to finish leaves the first's
    export as it is, says so, and its _export reports the failure (the run exits 1)."""
    from types import SimpleNamespace

    from tests import format2

    theirs = tmp_path / "shared.json"
    theirs.write_text("the other run's export")
    said = []
    suite = SimpleNamespace(run=Run.from_dict(format2.run([format2.row("numpy-loop", [100])])),
                            run_dir=tmp_path / "run",
                            config=SimpleNamespace(getoption=lambda name, default=None: theirs),
                            _say=said.append)
    assert Suite._export(suite) is False
    assert theirs.read_text() == "the other run's export"
    assert said == [f"benchmark.json could not be written to {theirs} (a file of that name "
                    "appeared during the run and is left as it was)"]
    assert json.loads((tmp_path / "run" / "benchmark.json").read_text())["benchmarks"]
