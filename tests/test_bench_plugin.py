"""The plugin's file handling: run folders made exclusively, results kept when saving fails."""

import datetime
import json
import os

from benchmarks.plugin import Suite, make_run_dir, save_results

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
    path, note = save_results(blocked / "results.json", {"rows": [1]}, fallbacks=[fallback])
    assert path.parent.parent == fallback
    assert json.loads(path.read_text()) == {"rows": [1]}
    assert note.startswith(f"the results could not be saved in {blocked} (")
    assert note.endswith(f"they are in {path} instead")
    assert "\n" not in note


def test_results_saved_where_asked_say_nothing(tmp_path):
    path, note = save_results(tmp_path / "results.json", {"rows": []})
    assert (path, note) == (tmp_path / "results.json", None)


def test_a_report_that_could_not_be_built_names_the_command_that_builds_it(tmp_path):
    from types import SimpleNamespace

    from tests import format2

    results = tmp_path / "results.json"
    suite = SimpleNamespace(collect_only=False, run=format2.run([format2.row("numpy-loop", [100])]),
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
