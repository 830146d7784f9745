"""Loading result files: format 2 checked, format 1 converted, every bad file one sentence."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reports.cli import main as reports_main
from results import load as load_module
from results.format import RESULTS_FORMAT_VERSION
from results.format1 import FORMAT_1_NOTE
from results.load import MAX_RESULT_BYTES, UnreadableResult, load_results
from tests import format2
from tests.helpers import ROOT
from tests.report_cases import as_run

FIXTURES = Path(__file__).with_name("fixtures")
OLD_FORMAT_1 = FIXTURES / "run_old.json"


def good_run() -> dict:
    return format2.run([format2.row("torch-loop", [400, 410, 405]),
                        format2.row("numpy-loop", [100, 101, 99], statuses=["failed", "ok",
                                                                             "ok"]),
                        format2.skipped_row("torch-loop")])


def test_a_format_2_file_and_its_folder_load_alike(tmp_path):
    format2.write(tmp_path / "results.json", good_run())
    from_file = load_results(tmp_path / "results.json")
    from_folder = load_results(tmp_path)
    assert from_file == from_folder
    assert from_file["format_version"] == 2 and RESULTS_FORMAT_VERSION == 3  # read as it is
    assert [r["id"] for r in from_file["rows"]] == [
        "torch-loop-cpu-b32", "numpy-loop-cpu-b32", "torch-loop-cuda-b32"]


def test_format_1_is_converted_to_one_process_per_row_whose_epochs_are_the_rounds():
    data = load_results(OLD_FORMAT_1)
    raw = json.loads(OLD_FORMAT_1.read_text())
    rounds = {b["extra_info"]["row"]: b["stats"]["data"] for b in raw["benchmarks"]}
    infos = {b["extra_info"]["row"]: b["extra_info"] for b in raw["benchmarks"]}
    assert data["format_version"] == 2 and data["converted_from_format_version"] == 1
    assert FORMAT_1_NOTE in data["warnings"]
    assert [r["id"] for r in data["rows"]] == [r["id"] for r in raw["sidebyside"]["rows"]]
    for row in data["rows"]:
        if row["status"] != "ok":
            assert row["summary"] is None and row["processes"] == []
            continue
        (process,) = row["processes"]
        assert process["steady_epoch_s"] == rounds[row["id"]]
        summary = row["summary"]
        assert summary["processes_ok"] == 1 and summary["us_per_step_ci_low"] is None
        # format 1 wrote the same statistic; the conversion recomputes it from the rounds
        assert summary["us_per_step"] == pytest.approx(infos[row["id"]]["us_per_step"])
        assert summary["process_us_per_step"] == [summary["us_per_step"]]
        assert [s["test_accuracy"] for s in process["per_seed"]] == \
            infos[row["id"]]["test_accuracy_per_seed"]
    baseline = next(r for r in data["rows"] if r["id"] == "torch-loop-cpu-b32")
    assert baseline["summary"]["ratio_to_torch_loop"] == 1.0


def test_the_version_constant_lives_outside_the_plugin():
    result = subprocess.run(
        [sys.executable, "-c", "import sys, reports.build, reports.compare, reports.cli; "
         "print(sorted(m for m in sys.modules if m.split('.')[0] in "
         "('benchmarks', 'pytest', '_pytest')))"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- bad files: one sentence, exit 2, nothing written -------------------------------------

def _format_1(tmp_path, name, change):
    data = json.loads(OLD_FORMAT_1.read_text())
    change(data)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def _format_2(tmp_path, name, change):
    data = good_run()
    change(data)
    return format2.write(tmp_path / name, data)


def _text(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def _replace_first(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def _steady(data) -> dict:
    return data["rows"][0]["processes"][0]


def _round_zero(data):
    data["benchmarks"][0]["stats"]["data"][3] = 0.0


def _bad_inputs(tmp_path) -> dict:
    """case -> (path, a part of the one sentence expected)."""
    good = json.dumps(good_run())
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as fh:  # sparse: no disk used, and never read
        fh.truncate(MAX_RESULT_BYTES + 1)
    empty_dir = tmp_path / "empty_run"
    empty_dir.mkdir()
    steady = '"steady_epoch_s": [0.0128, 0.0128, 0.0128]'
    return {
        "missing": (tmp_path / "nope.json", "no such file"),
        "folder without results": (empty_dir, "a folder without results.json"),
        "not json": (_text(tmp_path, "notes.json", "this is not JSON {"), "not valid JSON"),
        "binary": (binary, "not a text file"),
        "other tool": (_text(tmp_path, "other.json", '{"name": "x", "version": "1.0"}'),
                       "JSON from another tool"),
        "a list": (_text(tmp_path, "list.json", "[1, 2]"), "JSON from another tool"),
        "pytest-benchmark alone": (_text(tmp_path, "plain.json", '{"benchmarks": []}'),
                                   "pytest-benchmark without sidebyside"),
        "unknown version 2": (_format_2(tmp_path, "v99.json",
                                        lambda d: d.update(format_version=99)),
                              "result format version 99"),
        "unknown version 1": (_format_1(tmp_path, "v7.json",
                                        lambda d: d["sidebyside"].update(format_version=7)),
                              "result format version 7"),
        "too large": (huge, "too large for a result file"),
        "format 1 without rows": (_format_1(tmp_path, "f1rows.json",
                                            lambda d: d["sidebyside"].pop("rows")),
                                  "sidebyside.rows is missing"),
        "format 1 without plan": (_format_1(tmp_path, "f1plan.json",
                                            lambda d: d["sidebyside"].pop("plan")),
                                  "sidebyside.plan is missing"),
        "format 1 benchmarks null": (_format_1(tmp_path, "f1null.json",
                                               lambda d: d.update(benchmarks=None)),
                                     "benchmarks is null"),
        "format 1 zero round": (_format_1(tmp_path, "f1zero.json", _round_zero),
                                "timings must be numbers > 0"),
        "format 2 without rows": (_format_2(tmp_path, "f2rows.json", lambda d: d.pop("rows")),
                                  "rows is missing"),
        "format 2 without plan": (_format_2(tmp_path, "f2plan.json", lambda d: d.pop("plan")),
                                  "plan is missing"),
        "started not a time": (_format_2(tmp_path, "f2start.json",
                                         lambda d: d.update(started="yesterday")),
                               "started is 'yesterday'"),
        "cpu not an object": (_format_2(tmp_path, "f2cpu.json",
                                        lambda d: d["rows"][1]["processes"][0].update(cpu=[1])),
                              "rows[1].processes[0].cpu is a list, not an object"),
        "rows not a list": (_format_2(tmp_path, "f2type.json", lambda d: d.update(rows={})),
                            "rows is an object, not a list"),
        "unknown row status": (_format_2(tmp_path, "f2status.json",
                                         lambda d: d["rows"][0].update(status="great")),
                               "rows[0].status is 'great'"),
        "ok without summary": (_format_2(tmp_path, "f2summary.json",
                                         lambda d: d["rows"][0].update(summary=None)),
                               "is ok but has no summary"),
        "NaN token": (_text(tmp_path, "nan.json", _replace_first(
            good, steady, '"steady_epoch_s": [NaN, 0.0128, 0.0128]')),
            "holds NaN, not a finite number"),
        "Infinity token": (_text(tmp_path, "inf.json", _replace_first(
            good, steady, '"steady_epoch_s": [Infinity, 0.0128, 0.0128]')), "Infinity"),
        "-Infinity token": (_text(tmp_path, "minf.json", _replace_first(
            good, '"us_per_step": 405', '"us_per_step": -Infinity')), "-Infinity"),
        "overflowing number": (_text(tmp_path, "big.json", _replace_first(
            good, steady, '"steady_epoch_s": [1e400, 0.0128, 0.0128]')), "1e400"),
        "huge integer": (_text(tmp_path, "bigint.json", _replace_first(
            good, '"us_per_step": 405', '"us_per_step": ' + "9" * 5000)), "too large for any"),
        "zero timing": (_format_2(tmp_path, "zero.json",
                                  lambda d: _steady(d).update(steady_epoch_s=[0.0, 0.01])),
                        "rows[0].processes[0].steady_epoch_s[0] is 0.0"),
        "negative timing": (_format_2(tmp_path, "neg.json", lambda d: d["rows"][0]["summary"]
                                      .update(process_us_per_step=[400, -410, 405])),
                            "process_us_per_step[1] is -410"),
        "text timing": (_format_2(tmp_path, "text.json",
                                  lambda d: _steady(d).update(first_epoch_s="fast")),
                        "first_epoch_s is 'fast'"),
        "huge timing": (_format_2(tmp_path, "huge_t.json", lambda d: d["rows"][0]["summary"]
                                  .update(us_per_step=1e300)), "longer than a day"),
        "samples and count disagree": (_format_2(tmp_path, "count.json",
                                                 lambda d: d["rows"][0]["summary"]
                                                 .update(processes_ok=5)),
                                       "processes_ok is 5"),
        "accuracy above one": (_format_2(tmp_path, "acc.json", lambda d: d["rows"][0]["summary"]
                                         .update(test_accuracy_mean=5.0)),
                               "test_accuracy_mean is 5.0, but it must be between 0 and 1"),
        "negative memory": (_format_2(tmp_path, "mem.json", lambda d: d["rows"][0]["summary"]
                                      .update(peak_rss_above_baseline_bytes=-4096)),
                            "peak_rss_above_baseline_bytes is -4096, but it must be at least 0"),
        "negative seed loss": (_format_2(tmp_path, "loss.json", lambda d: _steady(d)["per_seed"][0]
                                         .update(final_loss=-0.5)),
                               "per_seed[0].final_loss is -0.5"),
    }


BAD_CASES = ["missing", "folder without results", "not json", "binary", "other tool",
             "a list", "pytest-benchmark alone", "unknown version 2", "unknown version 1",
             "too large", "format 1 without rows", "format 1 without plan",
             "format 1 benchmarks null", "format 1 zero round", "format 2 without rows",
             "format 2 without plan", "started not a time", "cpu not an object",
             "rows not a list", "unknown row status",
             "ok without summary", "NaN token", "Infinity token", "-Infinity token",
             "overflowing number", "huge integer", "zero timing", "negative timing", "text timing",
             "huge timing", "samples and count disagree", "accuracy above one",
             "negative memory", "negative seed loss"]


def test_every_bad_case_is_listed(tmp_path):
    assert sorted(_bad_inputs(tmp_path)) == sorted(BAD_CASES)


@pytest.mark.parametrize("case", BAD_CASES)
def test_a_bad_file_is_one_sentence_exit_2_and_nothing_written(tmp_path, capsys, case):
    path, message = _bad_inputs(tmp_path)[case]
    with pytest.raises(UnreadableResult, match=None) as err:
        load_results(path)
    assert message in str(err.value) and "\n" not in str(err.value)
    good = format2.write(tmp_path / "good.json", good_run())
    out_dir, csv = tmp_path / "report_out", tmp_path / "cmp.csv"
    for args in (["build", str(path), "--out", str(out_dir)],
                 ["compare", str(good), str(path), "--csv", str(csv)],
                 ["compare", str(path), str(good), "--markdown", str(csv)]):
        assert reports_main(args) == 2
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines
        assert captured.out == ""
        assert not out_dir.exists() and not csv.exists()


def test_the_size_is_checked_before_the_file_is_read(tmp_path, monkeypatch):
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as fh:
        fh.truncate(MAX_RESULT_BYTES + 1)

    def never(self):
        raise AssertionError("read before the size check")

    monkeypatch.setattr(load_module.Path, "read_bytes", never)
    with pytest.raises(UnreadableResult, match="too large"):
        load_results(huge)


@pytest.mark.parametrize("case", ["NaN token", "format 1 benchmarks null", "too large"])
def test_a_bad_file_gives_no_traceback_from_the_command_line(tmp_path, capsys, case):
    # The command's main() in this process: a traceback would fail the test here. (Its exit
    # status through `python -m reports`: tests/test_reports.py.)
    path, message = _bad_inputs(tmp_path)[case]
    for args in (["build", str(path), "--out", str(tmp_path / "r")],
                 ["compare", str(OLD_FORMAT_1), str(path)]):
        assert reports_main(args) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("where", ["an existing file", "inside a file"])
def test_build_out_that_cannot_be_a_folder_is_one_sentence(tmp_path, capsys, where):
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    out = a_file if where == "an existing file" else a_file / "report"
    assert reports_main(["build", str(OLD_FORMAT_1), "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "is a file, not a folder" in lines[0]
    assert a_file.read_text() == "keep me"


def test_build_out_in_a_read_only_folder_is_one_sentence(tmp_path, capsys, monkeypatch):
    from reports import cli

    locked = tmp_path / "locked"
    locked.mkdir()
    # Root may write into a 0o555 folder; what matters is that the check is asked and obeyed.
    monkeypatch.setattr(cli.os, "access", lambda path, mode: Path(path) != locked)
    assert reports_main(["build", str(OLD_FORMAT_1), "--out", str(locked / "r")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "is not writable" in lines[0]
    assert list(locked.iterdir()) == []
    # compare's outputs are tried with a file made and removed at once (the only sure test,
    # root included): /proc takes no new file from anyone
    assert reports_main(["compare", str(OLD_FORMAT_1), str(OLD_FORMAT_1), "--csv",
                         "/proc/c.csv"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "/proc/c.csv cannot be written (/proc: " in lines[0]


def test_the_pytest_benchmark_export_beside_a_result_file_points_to_it(tmp_path):
    format2.write(tmp_path / "results.json", good_run())
    (tmp_path / "benchmark.json").write_text('{"benchmarks": [], "version": "5.3.1"}')
    with pytest.raises(UnreadableResult, match="give the run's result file, .*results.json"):
        load_results(tmp_path / "benchmark.json")


def test_a_full_disk_while_building_leaves_no_partial_report_folder(tmp_path, capsys,
                                                                   monkeypatch):
    import errno

    from results import atomic

    written = []

    def fills_up(path, text):
        if written:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(path)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)

    monkeypatch.setattr(atomic, "write_text_atomic", fills_up)
    out = tmp_path / "report"
    assert reports_main(["build", str(OLD_FORMAT_1), "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0]
    assert written and not out.exists()


def _paths(obj, prefix=()):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(obj, list):
        for i, value in enumerate(obj[:1]):
            yield prefix + (i,)
            yield from _paths(value, prefix + (i,))


def test_any_field_missing_or_of_a_wrong_type_is_refused_or_read_without_error(tmp_path):
    """Every field of a small run, deleted or replaced by null or a string: the
    file is refused in one sentence, or every table and the comparison are made from it."""
    from reports import main_tables, tables
    from reports.compare import compare_runs
    from reports.compare_markdown import to_markdown
    from reports.report import footnote

    base = format2.run([format2.row("torch-loop", [400]), format2.skipped_row("numpy-loop")])
    base["rows"][0]["processes"][0]["curves"] = base["rows"][0]["processes"][0]["curves"][:1]
    crashes, refused, path = [], 0, tmp_path / "results.json"
    for field in _paths(base):
        for replacement in ("delete", None, "x"):
            data = json.loads(json.dumps(base))
            parent = data
            for key in field[:-1]:
                parent = parent[key]
            if replacement == "delete":
                parent.pop(field[-1])
            else:
                parent[field[-1]] = replacement
            path.write_text(json.dumps(data))
            try:
                loaded = load_results(path)
            except UnreadableResult as err:
                assert "\n" not in str(err)
                refused += 1
                continue
            try:
                run = as_run(loaded)
                frame = tables.tidy(run)
                tables.per_seed(run), tables.per_process(run)
                tables.learning_curves(run), main_tables.main_tables(frame)
                footnote(run, frame)
                to_markdown(compare_runs(as_run(loaded), as_run(loaded)), "a", "b")
            except Exception as err:  # the point: nothing escapes
                crashes.append((field, replacement, repr(err)))
    assert crashes == []
    assert refused > 100  # the checks did refuse most damage


def test_a_run_without_rows_is_refused_by_build_in_one_sentence(tmp_path, capsys):
    path = format2.write(tmp_path / "empty.json", format2.run([]))
    out = tmp_path / "report"
    assert reports_main(["build", str(path), "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "holds no rows" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-32"])
def test_a_result_file_saved_with_a_byte_order_mark_or_in_utf_16_loads(tmp_path, encoding):
    text = (FIXTURES / "run2_new.json").read_text()
    path = tmp_path / "results.json"
    path.write_bytes(text.encode(encoding))
    assert load_results(path)["rows"] == load_results(FIXTURES / "run2_new.json")["rows"]


def test_a_key_twice_in_one_object_is_refused_in_one_sentence(tmp_path):
    text = json.dumps(good_run()).replace('"format_version": 2', '"format_version": 2, '
                                          '"format_version": 2', 1)
    path = tmp_path / "results.json"
    path.write_text(text)
    with pytest.raises(UnreadableResult, match="the key 'format_version' appears twice") as err:
        load_results(path)
    assert "\n" not in str(err.value)


def test_a_lone_surrogate_in_a_string_is_replaced_so_that_reports_can_be_written(tmp_path):
    data = good_run()
    data["rows"][1]["reason"] = "crashed"
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data).replace('"crashed"', '"crashed \\ud800 here"'))
    assert load_results(path)["rows"][1]["reason"] == "crashed \ufffd here"


@pytest.mark.parametrize("change, message", [
    (lambda d: d["rows"][0].update(tag=["course"]), "rows[0].tag is a list, not a string"),
    (lambda d: d["rows"][0]["processes"][0]["curves"].__setitem__(0, {"seed": 0, "epoch": 1}),
     "rows[0].processes[0].curves[0].train_loss is missing"),
    (lambda d: d["plan"].update(sweeps={"depth": [1, 2]}), "plan.sweeps has the axis 'depth'"),
    (lambda d: d["environment"].update(command=["pytest"]),
     "environment.command is a list, not a string"),
    (lambda d: d["rows"][0]["summary"].update(us_per_step=None),
     "rows[0].summary.us_per_step is null, not a number"),
    (lambda d: d["rows"][0]["processes"][0].update(steady_epoch_s=None),
     "rows[0].processes[0].steady_epoch_s is null, but the process is ok"),
])
def test_a_field_of_the_wrong_type_is_named_by_its_json_path(tmp_path, change, message):
    path = _format_2(tmp_path, "results.json", change)
    with pytest.raises(UnreadableResult) as err:
        load_results(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_format_1_row_without_samples_is_refused_in_one_sentence(tmp_path):
    path = _format_1(tmp_path, "benchmark.json",
                     lambda d: d["benchmarks"][0]["stats"].update(data=[]))
    with pytest.raises(UnreadableResult, match=r"benchmarks\[0\]\.stats\.data is empty"):
        load_results(path)
