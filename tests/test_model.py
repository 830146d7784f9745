"""The result model (results/model.py): every format's file round-trips through it unchanged,
key order included, and an unknown format version is one sentence."""

import ast
import json
from pathlib import Path

import pytest

from results.load import UnreadableResult, load_results, load_run
from results.model import (
    ABSENT,
    Process,
    Row,
    Run,
    Summary,
    UnreadableVersion,
    check_version,
)
from tests import format2, format3

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).with_name("fixtures")


def _raw(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _format_1_converted() -> dict:
    data = load_results(FIXTURES / "run_old.json")
    del data["_path"]
    return data


CASES = {
    "format 1, converted": _format_1_converted,
    "format 2": lambda: _raw("run2_new.json"),
    "format 2, older": lambda: _raw("run2_old.json"),
    "format 3": lambda: _raw("run3.json"),
    "format 3, made to order": lambda: format3.run(
        [format3.row("torch-loop", [[100.0, 101.0, 99.0], [102.0, 98.0, 100.0]]),
         format3.row("numpy-loop", [[50.0, 51.0, 49.0], [52.0, 48.0, 50.0]])]),
}


@pytest.mark.parametrize("case", CASES)
def test_every_format_round_trips_with_its_keys_in_their_order(case):
    data = CASES[case]()
    run = Run.from_dict(data)
    back = run.to_dict()
    assert back == data
    # the same text, so the same keys in the same order at every depth
    assert json.dumps(back) == json.dumps(data)
    assert Run.from_dict(back) == run


def test_the_records_are_typed_down_to_a_process_and_a_summary():
    run = Run.from_dict(_raw("run3.json"))
    row = run.rows[0]
    assert isinstance(row, Row) and isinstance(row.summary, Summary)
    assert isinstance(row.processes[0], Process)
    assert row.summary.us_per_step == _raw("run3.json")["rows"][0]["summary"]["us_per_step"]
    assert row.processes[0].memory.peak_rss_above_baseline_bytes is not ABSENT
    assert row.ok_processes() == [p for p in row.processes if p.status == "ok"]


def test_an_absent_field_stays_absent_and_a_null_stays_null():
    data = _raw("run2_old.json")  # format 2: no estimator in its summaries
    summary = data["rows"][0]["summary"]
    assert "estimator" not in summary
    summary["ratio_ci_low"] = None
    run = Run.from_dict(data)
    assert run.rows[0].summary.estimator is ABSENT
    assert run.rows[0].summary.get("estimator", "median") == "median"
    assert run.rows[0].summary.ratio_ci_low is None
    out = run.to_dict()["rows"][0]["summary"]
    assert "estimator" not in out and out["ratio_ci_low"] is None


def test_a_key_the_model_does_not_name_is_kept_where_it_was():
    data = format2.run([format2.row("torch-loop", [100, 110, 105])])
    data["rows"][0] = {"future_field": [1, 2], **data["rows"][0]}
    run = Run.from_dict(data)
    assert run.rows[0].extra == {"future_field": [1, 2]}
    assert list(run.to_dict()["rows"][0]) == list(data["rows"][0])


def test_a_new_record_writes_its_fields_in_the_files_order_and_leaves_out_absent_ones():
    row = Row(id="numpy-loop-cpu-b32", variant="numpy-loop", implementation="numpy",
              mode="loop", device="cpu", batch_size=32, status="not run", reason="",
              stderr_tail="", processes=[], summary=None)
    assert list(row.to_dict()) == ["id", "variant", "implementation", "mode", "device",
                                   "batch_size", "status", "reason", "stderr_tail",
                                   "processes", "summary"]


@pytest.mark.parametrize("version", [0, 4, 7, None, "3"])
def test_an_unknown_format_version_is_one_sentence_naming_it(version, tmp_path):
    with pytest.raises(UnreadableVersion) as err:
        check_version(version)
    message = str(err.value)
    assert message == (
        "the file names no result format version (this version of sidebyside reads 1 to 3)"
        if version is None else
        f"result format version {version!r} is not a whole number (this version of "
        "sidebyside reads 1 to 3)" if isinstance(version, str) else
        f"result format version {version!r} is not one this version of sidebyside reads "
        "(it reads 1 to 3)")
    data = _raw("run3.json") | {"format_version": version}
    with pytest.raises(UnreadableVersion, match="is not one this version|names no result|"
                                                "not a whole number"):
        Run.from_dict(data)
    path = format2.write(tmp_path / "results.json", data)
    with pytest.raises(UnreadableResult) as loaded:
        load_run(path)
    assert str(loaded.value) == f"{path}: {message}"


def test_a_format_1_file_is_a_run_of_format_2_layout_with_its_origin():
    run = load_run(FIXTURES / "run_old.json")
    assert run.format_version == 2 and run.converted_from_format_version == 1
    assert run.path == str(FIXTURES / "run_old.json")
    assert all(len(row.processes) <= 1 for row in run.rows)


def _our_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        found |= {n.split(".")[0] for n in names}
    return found & {"frameworks", "benchmarks", "reports", "results", "tests"}


def test_the_result_model_imports_nothing_of_ours_but_itself():
    for path in sorted((ROOT / "results").glob("*.py")):
        assert _our_imports(path) <= {"results"}, path.name


def test_benchmarks_and_reports_do_not_import_each_other():
    # Both read and write runs through results/; neither knows the other (lazy imports
    # inside functions count too: ast.walk sees every import statement).
    for folder, other in (("benchmarks", "reports"), ("reports", "benchmarks")):
        for path in sorted((ROOT / folder).glob("*.py")):
            assert other not in _our_imports(path), f"{folder}/{path.name} imports {other}"
