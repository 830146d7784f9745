"""Reports and comparisons built from stored result fixtures (tests/fixtures)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from reports.build import build_report
from reports.cli import main as reports_main
from reports.compare import compare_runs
from reports.compare_markdown import to_markdown as compare_markdown
from reports.markdown import parse_markdown_table
from results import atomic, numbers
from results.load import UnreadableResult, load_results, load_run
from tests.helpers import ROOT

FIXTURES = Path(__file__).with_name("fixtures")
OLD, NEW = FIXTURES / "run_old.json", FIXTURES / "run_new.json"
GOLDEN = FIXTURES / "golden"
GOLDEN_FILES = ("report.md", "results.csv", "report.tex")
REPORT_FILES = ("results.csv", "learning_curves.csv", "per_seed.csv", "per_process.csv",
                "report.md", "report.tex", "report-tables.tex", "report.html",
                *(f"{p}.{ext}" for p in ("time_per_step", "learning_curves", "accuracy_vs_time",
                                         "peak_memory") for ext in ("png", "svg")))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return build_report(OLD, tmp_path_factory.mktemp("report"))


def test_every_report_file_is_written(report):
    for name in REPORT_FILES:
        assert (report / name).stat().st_size > 0, name
    assert (report / "time_per_step.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (report / "peak_memory.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("name", GOLDEN_FILES)
def test_report_matches_its_golden_file(report, name):
    produced = (report / name).read_text()
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        (GOLDEN / name).write_text(produced)
    assert produced == (GOLDEN / name).read_text()


def test_one_tidy_row_per_implementation_device_and_batch(report):
    frame = pd.read_csv(report / "results.csv")
    data = json.loads(OLD.read_text())
    assert list(frame["row"]) == [r["id"] for r in data["sidebyside"]["rows"]]
    assert frame["row"].is_unique
    for column in ("us_per_step", "steady_epoch_s_median", "steady_epoch_s_iqr",
                   "samples_per_s", "first_epoch_s", "test_accuracy_mean", "test_accuracy_sd",
                   "bayes_accuracy", "time_to_accuracy_s_median",
                   "peak_rss_above_baseline_bytes", "framework_version", "convention",
                   "time_ratio_to_torch_loop"):
        assert column in frame.columns
    baseline = frame[frame["row"] == "torch-loop-cpu-b32"]
    assert baseline["time_ratio_to_torch_loop"].item() == pytest.approx(1.0)


def test_failed_rows_are_shown_as_failed_not_omitted(report):
    frame = pd.read_csv(report / "results.csv")
    failed = frame[frame["row"] == "keras-torch-fit-cpu-b1024"]
    assert failed["status"].item() == "failed"
    assert "injected crash" in failed["reason"].item()
    markdown = (report / "report.md").read_text()
    # Not a table row (its reason would widen every table): one line among the caveats.
    assert "| keras-torch-fit-cpu-b1024 |" not in markdown
    assert markdown.count("- failed, 1 row: keras-torch-fit-cpu-b1024. Reason: worker exited "
                          "with status 1: RuntimeError: injected crash") == 1
    assert "keras-torch-fit-cpu-b1024" in (report / "report.html").read_text()


def test_markdown_tables_parse_back_into_the_same_numbers(report):
    frame = pd.read_csv(report / "results.csv").set_index("row")
    markdown = (report / "report.md").read_text()
    sections = {part.split("\n", 1)[0]: part for part in markdown.split("\n## ")}
    tables = {name: parse_markdown_table(sections[name].split("\n\n")[2])
              for name in ("Time", "Accuracy", "Memory")}
    checked = 0
    for line in tables["Time"]:
        row = frame.loc[line["Row"]]
        if row["status"] != "ok":
            assert line["µs/step (median)"].startswith(row["status"])
            continue
        # format 2, in the one number style (results.numbers)
        assert line["µs/step (median)"] == numbers.number(row["us_per_step"])
        assert line["Epoch s (median)"] == numbers.number(row["steady_epoch_s_median"])
        assert line["× torch loop"] == numbers.ratio(row["time_ratio_to_torch_loop"])
        checked += 1
    for line in tables["Accuracy"]:
        row = frame.loc[line["Row"]]
        if row["status"] == "ok":
            assert line["Test accuracy"] == numbers.fixed(row["test_accuracy_mean"], 3)
            assert line["Bayes"] == numbers.fixed(row["bayes_accuracy"], 3)
    for line in tables["Memory"]:
        row = frame.loc[line["Row"]]
        if row["status"] == "ok":
            assert line["Peak RSS MiB"] == numbers.number(
                row["peak_rss_above_baseline_bytes"] / 2**20)
    assert checked == len(frame[frame["status"] == "ok"]) > 0


def test_footnote_makes_the_numbers_citable(report):
    markdown = (report / "report.md").read_text()
    footnote = markdown.rsplit("---", 1)[1]
    for needle in ("date:", "command:", "seeds: 0, 1", "hardware:", "cores", "threads:",
                   "os:", "python:", "torch 2.13.0", "keras 3.15.1", "jax 0.10.2", "commit:",
                   "adam epsilon placement", "convention: matched"):
        assert needle in footnote, needle


def test_values_from_result_files_are_escaped_in_the_html(tmp_path):
    data = json.loads(OLD.read_text())
    evil = "<script>alert('x')</script>"
    for row in data["sidebyside"]["rows"]:
        if row["status"] == "failed":
            row["reason"] = evil
    data["benchmarks"][0]["extra_info"]["settings"]["framework_version"] = evil
    data["sidebyside"]["flags"] = [evil]
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(data))
    page = (build_report(path, tmp_path / "out") / "report.html").read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_a_crash_while_writing_leaves_the_complete_old_file(tmp_path, monkeypatch):
    target = tmp_path / "report.md"
    target.write_text("the complete old report")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_text_atomic(target, "half of a new rep")
    assert target.read_text() == "the complete old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_report_files_are_readable_by_others(report):
    assert (report / "report.md").stat().st_mode & 0o044


def test_build_from_the_command_line(tmp_path):
    assert reports_main(["build", str(OLD), "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report.html").exists()


# -- bad input: one sentence, exit status 2, no traceback ---------------------------

def bad_inputs(tmp_path):
    not_json = tmp_path / "notes.json"
    not_json.write_text("this is not JSON {")
    other_tool = tmp_path / "other.json"
    other_tool.write_text(json.dumps({"name": "a package.json", "version": "1.0"}))
    plain_benchmark = tmp_path / "plain.json"
    plain_benchmark.write_text(json.dumps({"benchmarks": [], "version": "5.3.1"}))
    future = tmp_path / "future.json"
    data = json.loads(OLD.read_text())
    data["sidebyside"]["format_version"] = 99
    future.write_text(json.dumps(data))
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    return {
        "missing": (tmp_path / "nope.json", "no such file"),
        "not json": (not_json, "not valid JSON"),
        "other tool": (other_tool, "JSON from another tool"),
        "pytest-benchmark alone": (plain_benchmark, "pytest-benchmark without sidebyside"),
        "unknown version": (future, "result format version 99"),
        "binary": (binary, "not a text file"),
    }


@pytest.mark.parametrize("case", ["missing", "not json", "other tool", "pytest-benchmark alone",
                                  "unknown version", "binary"])
def test_bad_input_is_one_sentence_and_exit_status_2(tmp_path, capsys, monkeypatch, case):
    path, message = bad_inputs(tmp_path)[case]
    with pytest.raises(UnreadableResult, match=message):
        load_results(path)
    # The command's main() in this process (a traceback would fail the test here); its exit
    # status through `python -m reports`, in a fresh interpreter: the test below.
    monkeypatch.chdir(tmp_path)  # where a build that went wrong would write
    for args in (["build", str(path)], ["compare", str(OLD), str(path)]):
        assert reports_main(args) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0]


def test_bad_input_from_python_dash_m_exits_2_with_one_sentence(tmp_path):
    path, message = bad_inputs(tmp_path)["not json"]
    for args in (["build", str(path)], ["compare", str(OLD), str(path)]):
        result = subprocess.run([sys.executable, "-m", "reports", *args], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0]


def test_help_describes_both_commands():
    result = subprocess.run([sys.executable, "-m", "reports", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "build" in result.stdout and "compare" in result.stdout


# -- comparing two format-1 runs (one process per row: never enough for a test) ---------
# Verdicts on format-2 runs: tests/test_compare.py.

@pytest.fixture(scope="module")
def comparison():
    return compare_runs(load_run(OLD), load_run(NEW))


def verdict(comparison, row):
    return comparison.rows.set_index("row").loc[row]


def test_a_known_slowdown_in_format_1_is_measured_but_inconclusive(comparison):
    row = verdict(comparison, "torch-loop-cpu-b32")
    assert row["ratio"] == pytest.approx(1.25)  # every round 25% slower (make_fixtures.py)
    assert row["verdict"] == "inconclusive"
    assert not row["regression"]
    assert "too few processes" in row["note"]


def test_every_format_1_row_is_inconclusive_and_the_output_says_why(comparison):
    assert set(comparison.rows["verdict"]) == {"inconclusive"}
    assert len(comparison.too_few) == len(comparison.rows) == 6
    assert verdict(comparison, "numpy-loop-cpu-b32")["ratio"] == pytest.approx(1.0)
    text = compare_markdown(comparison, "old", "new")
    assert ("both runs are result files from the first version of sidebyside (format 1): "
            "one process per row, so no interval") in text
    assert "too few processes for the test to ever reach its level" in text


def test_rows_in_one_run_only_and_differences_are_listed(comparison):
    assert comparison.only_old == ["numpy-loop-cpu-b1024"]
    assert comparison.only_new == []
    assert any("keras-torch-fit-cpu-b1024" in r for r in comparison.not_compared)
    assert any(d.startswith("commit:") for d in comparison.differences)


def test_identical_runs_show_no_change():
    data = load_run(OLD)
    same = compare_runs(data, data)
    assert (same.rows["ratio"] == 1).all()
    assert set(same.rows["verdict"]) == {"inconclusive"}
    assert same.differences == []


def test_compare_command_on_format_1_files(tmp_path):
    md, csv = tmp_path / "cmp.md", tmp_path / "cmp.csv"
    args = [sys.executable, "-m", "reports", "compare", str(OLD), str(NEW),
            "--markdown", str(md), "--csv", str(csv)]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Welch's t-test" in result.stdout and "inconclusive" in result.stdout
    # the same comparison: Markdown in the file, plain text (no escapes) on standard output
    assert md.read_text().startswith("# ") and "\\" not in result.stdout
    assert md.read_text().replace("\\", "").count("inconclusive") == \
        result.stdout.count("inconclusive")
    assert set(pd.read_csv(csv)["verdict"]) == {"inconclusive"}
    # a 25% slowdown that no test can confirm is not a "slower" verdict: no CI failure
    failing = subprocess.run([*args[:6], "--fail-above", "10"], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
    assert failing.returncode == 0


def test_control_characters_are_escaped_in_html_and_markdown(tmp_path):
    import re

    from reports.markdown import markdown_escape
    from tests.report_cases import control_character_run

    (tmp_path / "results.json").write_text(json.dumps(control_character_run()))
    out = build_report(tmp_path / "results.json")
    control = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
    page = (out / "report.html").read_text(encoding="utf-8")
    markdown = (out / "report.md").read_text(encoding="utf-8")
    for text in (page, markdown):
        assert not control.findall(text)
        assert "boom" in text and "[31m" not in text and "[U+0000]" in text.replace("\\", "")
    assert "&lt;" not in page.split("<body>")[0]  # nothing recorded lands in the head
    # Markdown: a recorded | or line break never splits a table cell or a list item.
    assert markdown_escape("a|b\nc") == "a\\|b<br>c"
    items = [line for line in markdown.splitlines() if line.startswith("- ") and "boom" in line]
    assert items and all("\\| pipe" in line for line in items)
    assert any("\\| pipe<br>second line" in line for line in items)  # an unstable reason
    # The comparison's Markdown escapes the same way.
    text = compare_markdown(compare_runs(load_run(out), load_run(out)),
                            "old|\x1b[1mrun", "new")
    assert not control.findall(text) and "old\\|run" in text


# -- where build writes, and never half of it -----------------------------------------------

@pytest.fixture(scope="module")
def built_run(tmp_path_factory) -> Path:
    """A run folder of run2_new.json with its report, built once for the module (a build
    draws every plot, seconds of CPU): the tests that change one get a copy of it."""
    run = tmp_path_factory.mktemp("built") / "sidebyside-runs" / "20261201-100000"
    run.mkdir(parents=True)
    (run / "results.json").write_bytes((FIXTURES / "run2_new.json").read_bytes())
    build_report(run)
    return run


def _run_folder(tmp_path, built_run) -> Path:
    """A copy of ``built_run`` (its files, their times kept) in a folder of its own under
    ``tmp_path``, as a run leaves it."""
    run = tmp_path / "sidebyside-runs" / built_run.name
    shutil.copytree(built_run, run)
    return run


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_an_edited_copy_beside_a_run_never_replaces_that_runs_report(tmp_path, monkeypatch,
                                                                     built_run):
    run = _run_folder(tmp_path, built_run)
    before = _snapshot(run)
    edited = run.parent / "edited.json"
    data = json.loads((run / "results.json").read_text())
    data["flags"] = ["edited by hand"]
    edited.write_text(json.dumps(data))
    monkeypatch.chdir(tmp_path)
    first = build_report(edited)
    second = build_report(edited)
    assert first == Path("sidebyside-runs/edited") and second == Path("sidebyside-runs/edited-2")
    assert "edited by hand" in (tmp_path / first / "report.md").read_text()
    assert _snapshot(run) == before
    assert sorted(p.name for p in run.parent.iterdir()) == [
        "20261201-100000", "edited", "edited-2", "edited.json"]


def test_out_holding_another_runs_result_file_is_refused(tmp_path, capsys, built_run):
    run = _run_folder(tmp_path, built_run)
    before = _snapshot(run)
    other = tmp_path / "other.json"
    other.write_bytes((FIXTURES / "run2_old.json").read_bytes())
    assert reports_main(["build", str(other), "--out", str(run)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "the run folder of another result file" in lines[0]
    assert _snapshot(run) == before
    # its own run folder, however spelt, is fine
    assert reports_main(["build", str(run / "results.json"), "--out",
                         str(run / ".." / run.name)]) == 0


def test_a_report_file_never_replaces_the_result_file_it_is_built_from(tmp_path, capsys):
    folder = tmp_path / "notes"
    folder.mkdir()
    source = folder / "report.md"  # a result file under a report file's name
    source.write_text(OLD.read_text())
    assert reports_main(["build", str(source), "--out", str(folder)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "would replace it" in lines[0]
    assert source.read_text() == OLD.read_text()
    assert sorted(p.name for p in folder.iterdir()) == ["report.md"]


def test_an_error_inside_a_staged_folder_leaves_the_old_folder_and_no_temporary_one(tmp_path):
    target = tmp_path / "report"
    target.mkdir()
    (target / "report.md").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic.StagedFolder(target) as staging:
            (staging / "report.md").write_text("new")
            raise KeyboardInterrupt
    assert _snapshot(target) == {"report.md": b"old"}
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def test_a_signal_during_the_move_into_place_waits_until_every_file_is_moved(tmp_path,
                                                                            monkeypatch):
    import signal

    target = tmp_path / "report"
    target.mkdir()
    for name in ("a.md", "b.md", "c.md"):
        (target / name).write_text("old")
    real_replace, calls = os.replace, []

    def replace_then_ctrl_c(src, dst):
        if not calls:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C after the first file
        calls.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        with atomic.StagedFolder(target) as staging:
            for name in ("a.md", "b.md", "c.md"):
                (staging / name).write_text("new")
    assert len(calls) == 3 and _snapshot(target) == dict.fromkeys(("a.md", "b.md", "c.md"),
                                                                  b"new")
    assert [p.name for p in tmp_path.iterdir()] == ["report"]


def _build_until_half_written(run: Path) -> subprocess.Popen:
    """``build`` of ``run`` in a process of its own, returned once its temporary folder
    beside the run folder holds a file (the report half-written there)."""
    import time

    process = subprocess.Popen([sys.executable, "-m", "reports", "build", str(run)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        staging = [p for p in run.parent.iterdir() if p.name.endswith(".tmp")]
        if staging and any(staging[0].iterdir()):
            break
        time.sleep(0.01)
    return process


# `build` in a process of its own that sends itself a real signal once the first file of the
# report stands in its temporary folder: the report is then half-written, whatever the
# machine's speed (the files are written in a few milliseconds, too short a window to hit
# from outside every time).
_SIGNAL_DURING_BUILD = """
import signal, sys
import results.atomic as atomic
from reports.cli import main

signum = getattr(signal, sys.argv[1])
real = atomic.write_text_atomic
def write_text_atomic(*args, **kwargs):
    real(*args, **kwargs)
    signal.raise_signal(signum)
atomic.write_text_atomic = write_text_atomic
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("signal_name, status", [("SIGINT", 130), ("SIGTERM", 143),
                                                 ("SIGHUP", 129)])
def test_a_signal_during_build_keeps_the_old_report_and_says_how_to_rebuild(
        tmp_path, signal_name, status, built_run):
    run = _run_folder(tmp_path, built_run)
    before = _snapshot(run)
    process = subprocess.Popen([sys.executable, "-P", "-c", _SIGNAL_DURING_BUILD, signal_name,
                                "build", str(run)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=120)
    assert process.returncode == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"interrupted by {signal_name}" in lines[0], err
    assert f"{run / 'results.json'} is intact" in lines[0] and f"build {run}" in lines[0]
    assert "Traceback" not in err
    assert _snapshot(run) == before
    assert sorted(p.name for p in run.parent.iterdir()) == [run.name]


def test_a_build_killed_outright_leaves_a_temporary_that_the_next_build_removes(tmp_path,
                                                                                 built_run):
    """SIGKILL cannot be caught, so the killed build's staging folder stays; its name holds
    the build's pid, and the next build removes it once that process is gone."""
    import signal

    run = _run_folder(tmp_path, built_run)
    before = _snapshot(run)
    process = _build_until_half_written(run)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    (left,) = [p for p in run.parent.iterdir() if p.name.endswith(".tmp")]
    assert left.name.startswith(f".{run.name}.pid{process.pid}-")
    assert _snapshot(run) == before  # the killed build had moved nothing into place
    build_report(run)
    assert sorted(p.name for p in run.parent.iterdir()) == [run.name]


def test_a_temporary_of_a_live_process_or_of_another_name_is_left_alone(tmp_path):
    target = tmp_path / "results.json"
    live = tmp_path / f".results.json.pid{os.getppid()}-abc.tmp"
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout.strip()
    dead = tmp_path / f".results.json.pid{dead_pid}-abc.tmp"
    other = tmp_path / f".report.md.pid{dead_pid}-abc.tmp"
    unrelated = tmp_path / ".results.json.notes.tmp"
    for path in (live, dead, other, unrelated):
        path.write_text("x")
    assert atomic.remove_stale_temporaries(target) == [dead]
    atomic.write_text_atomic(target, "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, other.name, unrelated.name, "results.json"])


def test_two_builds_of_one_result_file_at_once_leave_one_whole_report(tmp_path, built_run):
    run = _run_folder(tmp_path, built_run)
    for p in list(run.iterdir()):
        if p.name != "results.json":
            p.unlink()
    builds = [subprocess.Popen([sys.executable, "-m", "reports", "build", str(run)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    for process in builds:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0 and err == "", err
    assert sorted(p.name for p in run.iterdir()) == sorted(REPORT_FILES + ("results.json",))
    assert sorted(p.name for p in run.parent.iterdir()) == [run.name]


def test_build_with_an_empty_out_is_refused_not_taken_for_the_default(tmp_path, capsys,
                                                                      built_run):
    run = _run_folder(tmp_path, built_run)
    before = _snapshot(run)
    assert reports_main(["build", str(run), "--out", ""]) == 2
    assert capsys.readouterr().err.strip() == ("python -m reports: error: --out: expected a "
                                               "folder, got an empty value")
    assert _snapshot(run) == before


def test_a_file_name_with_an_escape_or_a_newline_is_shown_on_one_line(tmp_path, capsys):
    name = tmp_path / "a\x1b[31mred\nname.json"
    assert reports_main(["build", str(name)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err
    assert "a[U+001B][31mred[U+000A]name.json" in err
