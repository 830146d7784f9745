"""The report's tables as display strings: what each cell says for one seed, one process,
an unstable row, a CI, and names that Markdown would read as markup."""

import pandas as pd
import pytest

from reports import caveats, cells, main_tables, markdown, tables
from reports.build import build_report
from reports.report import footnote
from reports.tables import integer_columns
from results.numbers import MISSING
from tests.report_cases import (
    HOSTILE_NAME,
    NO_GPU,
    as_run,
    old_run,
    run_without_gpu,
    with_format2_summary,
    write,
)

# matplotlib's default font has no glyph for the CJK letter of HOSTILE_NAME; it draws a box.
pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing:UserWarning")


@pytest.fixture(scope="module")
def frame():
    return tables.tidy(as_run(old_run()))


def row_of(table, name):
    return table.set_index("Row").loc[name]


def test_format2_columns_show_the_ci_over_processes(frame):
    shown = main_tables.main_tables(with_format2_summary(frame))
    time = row_of(shown["Time"], "torch-loop-cpu-b32")
    assert time["µs/step (median)"] == "405" and time["95% CI µs/step"] == "[393, 421]"
    assert time[main_tables.PROCESS_IQR] == "3.5"
    assert time["× torch loop"] == "1.00×" and time["95% CI ×"] == "[0.950, 1.05]"
    assert "IQR s" not in shown["Time"].columns


def test_one_seed_and_one_process_show_the_missing_mark_instead_of_zero(frame):
    summary = with_format2_summary(frame, processes=1, seeds=1)
    summary["test_accuracy_sd"] = None
    summary[["us_per_step_ci_low", "us_per_step_ci_high", "spread_iqr_pct"]] = None
    shown = main_tables.main_tables(summary)
    time = row_of(shown["Time"], "torch-loop-cpu-b32")
    assert time["95% CI µs/step"] == time[main_tables.PROCESS_IQR] == MISSING
    assert row_of(shown["Accuracy"], "torch-loop-cpu-b32")["SD"] == MISSING
    # the reason is said once, in a note under each table that shows the mark
    # a format-2 time (the median over processes): its interval needs 2 processes
    assert main_tables.missing_notes("Time", shown["Time"], summary) == [
        f"{main_tables.MISSING_REASONS['Time']} {cells.INTERVAL_REASONS['median']}"]
    assert "none from one process" in cells.INTERVAL_REASONS["median"]
    assert "needs 3 processes" in main_tables.SPREADS[main_tables.PROCESS_IQR]
    assert "2 seeds" in main_tables.missing_notes("Accuracy", shown["Accuracy"])[0]


def test_one_round_shows_the_missing_mark_in_a_format1_run(frame):
    one_round = frame.assign(steady_rounds=1, steady_epoch_s_iqr=0.0)
    assert row_of(main_tables.main_tables(one_round)["Time"], "numpy-loop-cpu-b32")["IQR s"] == \
        MISSING


def test_an_unstable_rows_time_is_marked_and_explained_under_the_time_table_only(frame):
    summary = with_format2_summary(frame)
    summary.loc[summary["row"] == "keras-jax-fit-cpu-b32", "unstable"] = True
    summary["unstable_reasons"] = [["spread 31% over processes"] if r == "keras-jax-fit-cpu-b32"
                                   else [] for r in summary["row"]]
    shown = main_tables.main_tables(summary)
    time = shown["Time"].set_index("Row")
    assert time.loc["keras-jax-fit-cpu-b32", "µs/step (median)"].endswith(" †")
    assert "†" not in time.loc["torch-loop-cpu-b32", "µs/step (median)"]
    # two cells: the time per step and the ratio that divides it, not the row's name, its
    # accuracy or memory
    assert (shown["Time"].map(lambda c: "†" in c).to_numpy().sum()) == 2
    assert time.loc["keras-jax-fit-cpu-b32", "× torch loop"].endswith(" †")
    for name in ("Accuracy", "Memory"):
        assert not cells.shows_unstable_mark(shown[name]), name
    for section in main_tables.sections(summary):
        assert section.notes.count(cells.UNSTABLE_NOTE) == (section.key == "time")
        # the row's reasons are said in the caveats, not under each table
        assert not any("spread 31%" in note for note in section.notes)
    assert "shaded" in cells.UNSTABLE_NOTE and "Caveats" in cells.UNSTABLE_NOTE


def test_skipped_rows_are_one_line_per_reason_not_a_row_each():
    frame = tables.tidy(as_run(run_without_gpu()))
    shown = main_tables.main_tables(frame)
    assert all("cuda" not in r for t in shown.values() for r in t["Row"])
    assert len(shown["Time"]) == 7  # the measured CPU rows
    notes = caveats.not_measured(frame)
    skipped = [n for n in notes if n.startswith("skipped")]
    assert skipped == [f"skipped, 8 rows: {', '.join(frame[frame['status'] == 'skipped']['row'])}"
                       f". Reason: {NO_GPU}"]


def test_a_run_without_measured_rows_still_has_its_three_tables():
    frame = tables.tidy(as_run(run_without_gpu())).assign(status="skipped", reason=NO_GPU)
    shown = main_tables.main_tables(frame)
    assert list(shown) == ["Time", "Accuracy", "Memory"]
    assert all(table.empty and "Row" in table.columns for table in shown.values())


def test_markdown_names_with_pipes_newlines_and_markup_stay_in_their_cell():
    table = pd.DataFrame({"Row": [HOSTILE_NAME, "plain"], "µs/step": ["1.0", "2|3"]})
    text = markdown.to_markdown(table)
    lines = text.splitlines()
    assert len(lines) == 4  # header, rule, two rows: the newline did not start a new row
    assert all(line.count(" | ") == 1 for line in lines[2:])  # one unescaped separator each
    assert "<d>" not in text and "$x" not in text.replace("\\$x", "")
    assert markdown.parse_markdown_table(text) == [
        {"Row": HOSTILE_NAME, "µs/step": "1.0"}, {"Row": "plain", "µs/step": "2|3"}]


def test_the_markdown_report_of_a_hostile_run_parses_back(report_copy):
    report = report_copy("hostile")  # hostile_run's report (tests/conftest.py)
    text = (report / "report.md").read_text()
    time = text.split("## Time")[1].split("\n\n")[2]
    rows = [line["Row"] for line in markdown.parse_markdown_table(time)]
    assert f"{HOSTILE_NAME}-cpu-b32" in rows


def test_integer_columns_are_written_as_integers(tmp_path):
    report = build_report(write(run_without_gpu(), tmp_path), tmp_path / "out")
    frame = pd.read_csv(report / "results.csv", dtype=str, keep_default_na=False)
    ok = frame[frame["status"] == "ok"]
    for column in ("batch_size", "steady_rounds", "peak_rss_above_baseline_bytes",
                   "rss_after_import_bytes", "time_to_accuracy_reached_seeds"):
        assert all(value.isdigit() for value in ok[column]), column
    assert set(frame[frame["status"] == "skipped"]["steady_rounds"]) == {""}
    curves = pd.read_csv(report / "learning_curves.csv", dtype=str)
    assert all(value.isdigit() for value in curves["epoch"])


def test_integer_columns_leave_fractions_alone():
    frame = pd.DataFrame({"batch_size": [32.0, None], "steady_rounds": [2.5, 3.0]})
    out = integer_columns(frame)
    assert str(out["batch_size"].dtype) == "Int64" and out["batch_size"].isna().iloc[1]
    assert out["steady_rounds"].tolist() == [2.5, 3.0]


def test_the_footnote_reads_a_format2_run(frame):
    data = old_run()
    for key in ("converted_from_format_version", "pytest_benchmark_version"):
        del data[key]  # as if the suite had written it in format 2
    data["environment"].update(cpu_model="AMD EPYC 9B14",
                               commit={"id": "0123456789abcdef", "dirty": False})
    note = footnote(as_run(data), with_format2_summary(frame))
    assert note["hardware"] == "AMD EPYC 9B14, 2 cores"
    assert note["commit"] == "0123456789ab"
    assert note["format"] == "sidebyside result format 2"
    assert note["seeds"] == "0, 1" and note["date"].startswith("2026-11-28")


def test_a_column_without_a_value_in_any_row_is_left_out_with_its_note(frame):
    # one process a row on the CPU: no process IQR, no GPU peak in any row
    summary = with_format2_summary(frame, processes=1, seeds=1)
    summary["spread_iqr_pct"] = None
    summary["gpu_peak_bytes"] = None
    sections = {s.key: s for s in main_tables.sections(summary)}
    time, memory = sections["time"], sections["memory"]
    assert main_tables.PROCESS_IQR not in time.table.columns
    assert "GPU peak MiB" not in memory.table.columns
    assert "Peak RSS MiB" in memory.table.columns  # a column with values stays
    assert not any("GPU" in note for note in memory.notes)  # nothing left to explain
    assert not any(main_tables.PROCESS_IQR in note for note in time.notes)
    for printed in time.latex:
        assert main_tables.PROCESS_IQR not in printed.table.columns
    # with a value in one row, the column stays, the others' marks explained
    summary.loc[summary.index[0], "gpu_peak_bytes"] = 2**20
    memory = next(s for s in main_tables.sections(summary) if s.key == "memory")
    assert "GPU peak MiB" in memory.table.columns and any("GPU" in n for n in memory.notes)


def test_a_target_no_row_reached_leaves_its_column_out_and_says_so(frame):
    summary = with_format2_summary(frame)
    summary["time_to_accuracy_reached_seeds"] = 0
    accuracy = next(s for s in main_tables.sections(summary) if s.key == "accuracy")
    assert main_tables.TO_TARGET not in accuracy.table.columns
    assert accuracy.notes.count(main_tables.NO_TARGET_NOTE) == 1
