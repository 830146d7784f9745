"""A run as tidy tables: one row per result row (``tidy``), per seed, per worker process and
per learning-curve point, and those tables as the report's CSV files (``run_tables``)."""

from __future__ import annotations

import dataclasses
import re
import statistics

import pandas as pd

from results.model import Cpu, Process, Row, Run, Summary
from results.schema import is_sweep

SETTING_COLUMNS = ("framework_version", "keras_backend", "backend_version", "compile",
                   "convention", "initial_weights", "adam_epsilon", "adam_epsilon_placement",
                   "loss_clip", "precision", "intra_op_threads", "inter_op_threads",
                   "device_name")
ROW_COLUMNS = ("row", "variant", "implementation", "mode", "device", "batch_size", "tag",
               "tuned_note", "status",
               "reason")
# Every Summary field of docs/result_format.md, in its order.
SUMMARY_COLUMNS = ("processes_ok", "us_per_step", "us_per_step_ci_low", "us_per_step_ci_high",
                   "process_us_per_step", "spread_iqr_pct", "unstable", "unstable_reasons",
                   "samples_per_s", "steady_epoch_s_median", "first_epoch_s",
                   "first_epoch_cold", "test_accuracy_mean", "test_accuracy_sd", "n_seeds",
                   "time_to_accuracy_s_median", "time_to_accuracy_reached_seeds",
                   "target_accuracy", "bayes_accuracy", "final_loss_mean",
                   "peak_rss_above_baseline_bytes", "rss_after_import_bytes", "gpu_peak_bytes",
                   "import_s", "build_s", "cores_used", "ratio_to_torch_loop", "ratio_ci_low",
                   "ratio_ci_high",
                   # since format 3; a format-2 row's estimator is FORMAT_2_ESTIMATOR
                   "estimator", "us_per_step_median", "samples", "sample_spread_iqr_pct",
                   "ratio_method")
# Columns of format-1 days that the rendering still reads: quartiles of the samples (the
# processes' median steady epochs; a format-1 file's rounds), the number of steady epochs,
# and the ratio under its old name.
EXTRA_COLUMNS = ("steady_epoch_s_q1", "steady_epoch_s_q3", "steady_epoch_s_iqr",
                 "steady_rounds", "time_ratio_to_torch_loop")
# A sweep's run (plan.sweeps) adds these after batch_size: the row's width and
# training samples, which tell its points apart. Other runs' tables are as they were.
SWEEP_ROW_COLUMNS = ("hidden_size", "n_train")
# What two rows must share to stand side by side (a table block, a plot panel).
IDENTITY_COLUMNS = ("device", "batch_size", *SWEEP_ROW_COLUMNS)
# A file from before sweeps records no width: all its rows have the course's (frameworks.spec's).
DEFAULT_HIDDEN_SIZE = 16
INTEGER_COLUMNS = ("batch_size", "processes_ok", "n_seeds", "time_to_accuracy_reached_seeds",
                   "peak_rss_above_baseline_bytes", "rss_after_import_bytes", "gpu_peak_bytes",
                   "steady_rounds", "samples")
BOOLEAN_COLUMNS = ("unstable", "first_epoch_cold")
_TEXT_SUMMARY = ("process_us_per_step", "unstable_reasons", "estimator", "ratio_method")
NUMBER_COLUMNS = tuple(c for c in SUMMARY_COLUMNS + EXTRA_COLUMNS
                       if c not in INTEGER_COLUMNS + BOOLEAN_COLUMNS + _TEXT_SUMMARY)
# Summary columns that only a run of several processes per row can fill. A converted format-1
# file (one process per row, its rounds as samples) has none, so its table leaves them out;
# the rendering then shows the rounds' IQR in seconds instead, as format 1 did.
FORMAT_2_ESTIMATOR = "median"  # results.format's: what us_per_step is in a format-2 file
FORMAT_2_ONLY_COLUMNS = ("us_per_step_ci_low", "us_per_step_ci_high", "spread_iqr_pct",
                         "ratio_ci_low", "ratio_ci_high")


def tidy(run: Run) -> pd.DataFrame:
    """One row per result row (failed and skipped rows included), from a loaded run.

    Columns: ROW_COLUMNS, then SUMMARY_COLUMNS (empty for rows without a summary;
    `process_us_per_step` as space-separated numbers, `unstable_reasons` joined by "; "),
    EXTRA_COLUMNS, then SETTING_COLUMNS from the row's first ok process (as strings). A
    sweep's run (``plan.sweeps`` not empty) has SWEEP_ROW_COLUMNS after ``batch_size``.
    Integer columns are pandas nullable Int64, `unstable`/`first_epoch_cold` nullable boolean,
    so a missing value stays missing instead of turning 29 into 29.0. A file converted from
    format 1 (``converted_from_format_version``, set by results.load) has no
    FORMAT_2_ONLY_COLUMNS.
    """
    records = []
    plan = run.plan or {}
    for row in run.rows:
        summary = row.summary or Summary()
        record = {
            "row": row.id,
            "variant": row.variant,
            "implementation": row.implementation,
            "mode": row.mode,
            "device": row.device,
            "batch_size": row.batch_size,
            "hidden_size": row.get("hidden_size", DEFAULT_HIDDEN_SIZE),
            "n_train": row.get("n_train", plan.get("n_train")),
            "tag": row.get("tag"),  # recorded since the tuned rows; None in older files
            "tuned_note": row.get("tuned_note"),
            "status": row.status,
            # the first line; splitlines would also cut at C1's NEL and other separators
            "reason": re.split(r"\r\n|\r|\n", row.reason)[0] if row.get("reason") else "",
        }
        for column in SUMMARY_COLUMNS:
            record[column] = summary.get(column)
        if row.summary and not summary.get("estimator"):
            record["estimator"] = FORMAT_2_ESTIMATOR  # before format 3: median over processes
        record["process_us_per_step"] = " ".join(
            repr(v) for v in summary.get("process_us_per_step") or []) or None
        record["unstable_reasons"] = "; ".join(summary.get("unstable_reasons") or []) or None
        ok = _ok_processes(row)
        record.update(_sample_quartiles(summary, ok))
        record["steady_rounds"] = sum(len(_epochs(p)) for p in ok) if ok else None
        record["time_ratio_to_torch_loop"] = summary.get("ratio_to_torch_loop")
        settings = (ok[0].settings or {}) if ok else {}
        for column in SETTING_COLUMNS:
            value = settings.get(column)
            record[column] = None if value is None else str(value)
        records.append(record)
    row_columns = list(ROW_COLUMNS)
    if is_sweep(plan):
        at = row_columns.index("batch_size") + 1
        row_columns[at:at] = SWEEP_ROW_COLUMNS
    frame = pd.DataFrame.from_records(
        records, columns=[*row_columns, *SUMMARY_COLUMNS, *EXTRA_COLUMNS, *SETTING_COLUMNS])
    if run.converted_from_format_version == 1:
        frame = frame.drop(columns=list(FORMAT_2_ONLY_COLUMNS))
    return _typed(frame, NUMBER_COLUMNS)


def _ok_processes(row: Row) -> list[Process]:
    return sorted((p for p in row.processes or [] if p.status == "ok"),
                  key=lambda p: p.index)


def _epochs(process: Process) -> list[float]:
    """A process's timed samples, seconds: its interleaved one-epoch samples (format 3) or
    its steady epochs (format 2, data-parallel rows)."""
    return process.samples_epoch_s or process.steady_epoch_s


def _sample_quartiles(summary: Summary, ok: list[Process]) -> dict:
    """Quartiles of the row's samples: each ok process's median sample, seconds."""
    if summary.get("steady_epoch_s_q1") is not None:  # a converted format-1 file's rounds
        q1, q3 = summary.steady_epoch_s_q1, summary.steady_epoch_s_q3
    elif len(ok) >= 2:
        medians = [statistics.median(_epochs(p)) for p in ok]
        q1, _, q3 = statistics.quantiles(medians, n=4, method="inclusive")
    else:
        return {"steady_epoch_s_q1": None, "steady_epoch_s_q3": None,
                "steady_epoch_s_iqr": None}
    return {"steady_epoch_s_q1": q1, "steady_epoch_s_q3": q3, "steady_epoch_s_iqr": q3 - q1}


def _typed(frame: pd.DataFrame, number_columns) -> pd.DataFrame:
    for column in frame.columns:
        if column in INTEGER_COLUMNS + SWEEP_ROW_COLUMNS or column in PER_PROCESS_INTEGERS:
            frame[column] = frame[column].astype("Int64")
        elif column in BOOLEAN_COLUMNS or column in PER_PROCESS_BOOLEANS:
            frame[column] = frame[column].astype("boolean")
        elif column in number_columns:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


PER_SEED_COLUMNS = ("row", "process", "seed", "test_accuracy", "test_loss", "final_loss",
                    "time_to_accuracy_s")


def per_seed(run: Run) -> pd.DataFrame:
    """One row per trained seed: row, process (its index), seed, test_accuracy, test_loss,
    final_loss (training loss of the last epoch), time_to_accuracy_s (empty: not reached)."""
    records = [{"row": row.id, "process": p.index, **{
                   k: s.get(k) for k in PER_SEED_COLUMNS[2:]}}
               for row in run.rows for p in _ok_processes(row)
               for s in p.per_seed or []]
    frame = pd.DataFrame.from_records(records, columns=PER_SEED_COLUMNS)
    frame["process"] = frame["process"].astype("Int64")
    frame["seed"] = frame["seed"].astype("Int64")
    return _typed(frame, PER_SEED_COLUMNS[3:])


PER_PROCESS_COLUMNS = ("row", "process", "status", "reason", "us_per_step", "steady_epochs",
                       "first_epoch_s", "cold_cache", "wall_s", "cores_used", "starved",
                       "affinity")
PER_PROCESS_INTEGERS = ("process", "steady_epochs")
PER_PROCESS_BOOLEANS = ("cold_cache", "starved")


def per_process(run: Run) -> pd.DataFrame:
    """One row per worker process: row, process (index), status, reason, us_per_step (the
    process's sample, from the row's summary; empty unless ok), steady_epochs (count),
    first_epoch_s, cold_cache, wall_s, cores_used (CPU time / wall time while training),
    starved, affinity (the CPUs it was pinned to, space-separated; empty: not pinned)."""
    records = []
    for row in run.rows:
        samples = iter((row.summary or Summary()).get("process_us_per_step") or [])
        ok_indexes = {p.index for p in _ok_processes(row)}
        # The summary lists the ok processes' samples in process-index order.
        sample_of = {index: next(samples, None) for index in sorted(ok_indexes)}
        for p in row.processes or []:
            cpu = p.cpu or Cpu()
            affinity = p.get("affinity")
            records.append({
                "row": row.id, "process": p.index, "status": p.status,
                "reason": (p.get("reason") or "").split("\n")[0],
                "us_per_step": sample_of.get(p.index) if p.status == "ok" else None,
                "steady_epochs": len(p.get("samples_epoch_s") or p.get("steady_epoch_s")
                                     or []) or None,
                "first_epoch_s": p.get("first_epoch_s"), "cold_cache": p.get("cold_cache"),
                "wall_s": p.get("wall_s"), "cores_used": cpu.get("cores_used"),
                "starved": cpu.get("starved"),
                "affinity": None if affinity is None else " ".join(str(c) for c in affinity),
            })
    frame = pd.DataFrame.from_records(records, columns=PER_PROCESS_COLUMNS)
    return _typed(frame, ("us_per_step", "first_epoch_s", "wall_s", "cores_used"))


def learning_curves(run: Run) -> pd.DataFrame:
    """Tidy learning curves: row, process, seed, epoch, train_loss, test_loss, test_accuracy,
    elapsed_s, from every ok process."""
    columns = ["row", "process", "seed", "epoch", "train_loss", "test_loss", "test_accuracy",
               "elapsed_s"]
    records = [{"row": row.id, "process": p.index, **{k: point.get(k) for k in columns[2:]}}
               for row in run.rows for p in _ok_processes(row) for point in p.curves or []]
    return pd.DataFrame.from_records(records, columns=columns)


# -- the CSV files -------------------------------------------------------------------------

# Columns of any report CSV that hold integers; written as pandas' nullable Int64 so that a
# skipped row's empty cell does not turn 29 into 29.0.
CSV_INTEGER_COLUMNS = (
    "batch_size", "steady_rounds", "time_to_accuracy_reached_seeds",
    "peak_rss_above_baseline_bytes", "rss_after_import_bytes", "gpu_peak_bytes", "n_seeds",
    "processes_ok", "seed", "epoch", "index", "steps_per_epoch", "effective_batch_size",
    "n_train", "n_test", "hidden_size", "n_parameters", "peak_rss_bytes", "points", "samples")


def integer_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every column of ``CSV_INTEGER_COLUMNS`` as nullable Int64 where its
    values are whole numbers (a column that holds fractions is left as it is)."""
    frame = frame.copy()
    for column in CSV_INTEGER_COLUMNS:
        if column not in frame.columns:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        whole = values.dropna()
        if values.notna().sum() == frame[column].notna().sum() and (whole % 1 == 0).all():
            frame[column] = values.astype("Int64")
    return frame


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as a report CSV file's text: no index, whole numbers as integers."""
    return integer_columns(frame).to_csv(index=False)


@dataclasses.dataclass
class RunTables:
    """A run's tidy tables: ``frame`` (``tidy``), ``curves`` (``learning_curves``) and
    ``files``, the CSV files of the report (name -> text): results.csv, learning_curves.csv,
    per_seed.csv and per_process.csv."""
    frame: pd.DataFrame
    curves: pd.DataFrame
    files: dict[str, str]


def run_tables(run: Run) -> RunTables:
    """The tidy tables of ``run`` and their CSV files."""
    frame, curves = tidy(run), learning_curves(run)
    return RunTables(frame, curves, files={
        "results.csv": csv_text(frame), "learning_curves.csv": csv_text(curves),
        "per_seed.csv": csv_text(per_seed(run)), "per_process.csv": csv_text(per_process(run))})
