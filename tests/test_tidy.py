"""The tidy tables of a format-2 run: one row per result row, per seed and per process."""

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports import cells, main_tables, tables
from reports.build import build_report
from results.load import load_results
from tests import format2
from tests.report_cases import as_run

DOCS = Path(__file__).resolve().parents[1] / "docs" / "result_format.md"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    other_settings = {"framework_version": "from the failed process", "device_name": "cpu"}
    partial = format2.row("numpy-loop", [100, 101, 99], statuses=["failed", "ok", "ok"])
    partial["processes"][0]["settings"] = other_settings
    run = format2.run([format2.row("torch-loop", [400, 410, 405]), partial,
                       format2.row("jax-loop", [50, 60, 55], unstable=True),
                       format2.skipped_row("torch-loop")])
    run["rows"][0]["processes"][2]["cpu"]["starved"] = True
    path = format2.write(tmp_path_factory.mktemp("run") / "results.json", run)
    return load_results(path)


def test_every_summary_field_of_the_contract_is_a_column():
    text = DOCS.read_text()
    block = text[text.index("`Summary`"):]
    block = block[block.index("```text"):block.index("```", block.index("```text") + 3)]
    fields = re.findall(r'"(\w+)":', block)
    # The same fields; the CSV keeps older columns first (new ones are appended, so that a
    # reader's column positions survive), the contract groups them by meaning.
    assert fields and sorted(tables.SUMMARY_COLUMNS) == sorted(fields)
    assert len(set(fields)) == len(fields)


def test_one_row_per_result_row_with_row_summary_and_setting_columns(data):
    frame = tables.tidy(as_run(data))
    assert list(frame["row"]) == [r["id"] for r in data["rows"]]
    assert list(frame["status"]) == ["ok", "partial", "ok", "skipped"]
    for column in (*tables.ROW_COLUMNS, *tables.SUMMARY_COLUMNS, *tables.EXTRA_COLUMNS,
                   *tables.SETTING_COLUMNS):
        assert column in frame.columns, column
    torch = frame.set_index("row").loc["torch-loop-cpu-b32"]
    assert torch["us_per_step"] == 405 and torch["processes_ok"] == 3
    assert torch["process_us_per_step"] == "400 410 405"
    assert torch["time_ratio_to_torch_loop"] == torch["ratio_to_torch_loop"] == 1.0
    skipped = frame.set_index("row").loc["torch-loop-cuda-b32"]
    assert pd.isna(skipped["us_per_step"]) and skipped["reason"] == "no CUDA device"


def test_integer_columns_stay_integers_when_some_rows_have_none(data):
    frame = tables.tidy(as_run(data))
    for column in tables.INTEGER_COLUMNS:
        assert str(frame[column].dtype) == "Int64", column
    assert str(frame["unstable"].dtype) == "boolean"
    csv = frame.to_csv(index=False)
    reread = pd.read_csv(io.StringIO(csv))
    assert reread["processes_ok"].dropna().tolist() == [3, 2, 3]
    assert ",3.0," not in csv and ",32.0," not in csv


def test_settings_come_from_the_first_ok_process(data):
    frame = tables.tidy(as_run(data)).set_index("row")
    assert frame.loc["numpy-loop-cpu-b32", "framework_version"] == "2.13.0"


def test_quartiles_are_over_the_processes_median_epochs(data):
    frame = tables.tidy(as_run(data)).set_index("row")
    epochs = np.array([400, 410, 405]) * format2.STEPS_PER_EPOCH / 1e6
    q1, q3 = np.percentile(epochs, [25, 75])  # linear interpolation = the inclusive method
    assert frame.loc["torch-loop-cpu-b32", "steady_epoch_s_q1"] == pytest.approx(q1)
    assert frame.loc["torch-loop-cpu-b32", "steady_epoch_s_iqr"] == pytest.approx(q3 - q1)
    assert frame.loc["torch-loop-cpu-b32", "steady_rounds"] == 9  # 3 processes x 3 epochs


def test_unstable_rows_and_their_reasons(data):
    frame = tables.tidy(as_run(data)).set_index("row")
    assert frame.loc["jax-loop-cpu-b32", "unstable"]
    assert frame.loc["jax-loop-cpu-b32", "unstable_reasons"] == "spread 25% over processes"
    assert not frame.loc["torch-loop-cpu-b32", "unstable"]


def test_per_seed_has_one_row_per_seed_of_every_ok_process(data):
    frame = tables.per_seed(as_run(data))
    assert list(frame.columns) == list(tables.PER_SEED_COLUMNS)
    numpy_rows = frame[frame["row"] == "numpy-loop-cpu-b32"]
    assert numpy_rows["process"].tolist() == [1, 2]  # process 0 failed
    assert numpy_rows["seed"].tolist() == [1, 2]
    assert len(frame) == 3 + 2 + 3
    assert frame["test_accuracy"].eq(0.88).all()
    assert frame["time_to_accuracy_s"].isna().sum() == 3  # seed 1 of each row: not reached


def test_per_process_lists_every_process_with_its_sample(data):
    frame = tables.per_process(as_run(data))
    assert list(frame.columns) == list(tables.PER_PROCESS_COLUMNS)
    numpy_rows = frame[frame["row"] == "numpy-loop-cpu-b32"].set_index("process")
    assert numpy_rows.loc[0, "status"] == "failed" and pd.isna(numpy_rows.loc[0, "us_per_step"])
    assert numpy_rows.loc[1, "us_per_step"] == 101 and numpy_rows.loc[2, "us_per_step"] == 99
    torch = frame[frame["row"] == "torch-loop-cpu-b32"].set_index("process")
    assert torch["us_per_step"].tolist() == [400, 410, 405]
    assert torch["steady_epochs"].tolist() == [3, 3, 3]
    assert torch["cold_cache"].tolist() == [True, False, False]
    assert torch["starved"].tolist() == [False, False, True]
    assert torch["affinity"].tolist() == ["0", "1", "0"]
    assert str(frame["process"].dtype) == "Int64"


def test_learning_curves_come_from_every_ok_process(data):
    curves = tables.learning_curves(as_run(data))
    assert list(curves.columns) == ["row", "process", "seed", "epoch", "train_loss",
                                    "test_loss", "test_accuracy", "elapsed_s"]
    assert len(curves) == (3 + 2 + 3) * 4  # one seed per process, 4 epochs
    assert set(curves[curves["row"] == "numpy-loop-cpu-b32"]["process"]) == {1, 2}


def test_a_format_2_run_builds_a_report(data, tmp_path):
    out = build_report(data["_path"], tmp_path / "report")
    for name in ("results.csv", "report.md", "report.html", "time_per_step.png"):
        assert (out / name).stat().st_size > 0, name
    markdown = (out / "report.md").read_text()
    assert "| torch-loop-cpu-b32 | 405 |" in markdown
    assert "format 2" in markdown.rsplit("---", 1)[1]


def test_a_run_folders_report_goes_into_that_folder(tmp_path):
    run_dir = tmp_path / "20261129-180000"
    run_dir.mkdir()
    format2.write(run_dir / "results.json", format2.run([format2.row("torch-loop", [400])]))
    assert build_report(run_dir) == run_dir
    assert (run_dir / "report.md").exists()


def test_a_format_1_run_has_no_interval_columns_and_shows_its_rounds_iqr():
    """A converted format-1 file has one process per row: the columns that only several
    processes can fill are left out, so the Time table shows the rounds' IQR in seconds."""
    from tests.report_cases import old_run

    frame = tables.tidy(as_run(old_run()))
    for column in tables.FORMAT_2_ONLY_COLUMNS:
        assert column not in frame.columns, column
    assert frame["steady_epoch_s_iqr"].notna().sum() == 7  # every measured row
    time = main_tables.main_tables(frame)["Time"]
    assert "IQR s" in time.columns and "IQR %" not in time.columns
    assert not [c for c in time.columns if "CI" in c]


def test_a_format_2_run_keeps_its_interval_columns(data):
    frame = tables.tidy(as_run(data))
    for column in tables.FORMAT_2_ONLY_COLUMNS:
        assert column in frame.columns, column
    assert "95% CI µs/step" in main_tables.main_tables(frame)["Time"].columns


def test_a_missing_unstable_flag_renders_as_stable(data):
    frame = tables.tidy(as_run(data)).assign(unstable=pd.array([None] * 4, dtype="boolean"))
    for table in main_tables.main_tables(frame).values():
        assert not cells.shows_unstable_mark(table)
