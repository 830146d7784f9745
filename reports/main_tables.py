"""The report's three main tables (Time, Accuracy, Memory) as display strings, and the notes
under them, from a run's tidy frame (reports.tables.tidy).

Columns of result format 2 (docs/result_format.md, Summary) are read when present and left
out when absent, so that the same code renders format-1 files and later formats.
"""

from __future__ import annotations

import math

import pandas as pd

from reports.document import UNSTABLE_MARK, Section

MEASURED_STATUSES = ("ok", "partial")  # rows with numbers; every other row is a note

CAPTIONS = {
    "Time": "Steady-state training time of one training step, by the estimator in the "
            "column's header. p10: the 10th percentile of one-epoch samples taken by workers "
            "that stay resident and are sampled in rounds interleaved with the other rows "
            "(robust to the time a busy machine adds), with its 95% two-level bootstrap "
            "interval (processes, then samples within them) and the median of the same "
            "samples beside it; median (result files of format 2): the median over processes "
            "of each one's median steady epoch, with a 95% bootstrap interval over processes. "
            "IQR %: the spread over processes (n/a under 3). × torch loop: the ratio to the "
            "course's PyTorch loop at the same device and batch size (1.00 is the same "
            "speed, 2.00 twice as slow): the row's p10 over torch loop's, its interval "
            "resampling the processes (and, where they were sampled together, the rounds) of "
            "both rows at once.",
    "Accuracy": "Test accuracy after the last epoch, mean and SD over the seeds; "
                "to target: median training time until the target accuracy.",
    "Memory": "Peak resident memory while training, above the process after the model "
              "was built; after import: the process once its framework is imported.",
}


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _fmt(value, spec: str) -> str:
    if _missing(value):
        return "–"
    return format(value, spec)


def _mib(value) -> str:
    return _fmt(None if _missing(value) else value / 2**20, ".1f")


def _get(row, column):
    """The value of ``column`` in ``row``, or None where tidy() did not provide it."""
    return row[column] if column in row.index else None


def _interval(low, high, spec: str, alone: str) -> str:
    if _missing(low) or _missing(high):
        return alone
    return f"{format(low, spec)}–{format(high, spec)}"


def _spread_cells(row, frame: pd.DataFrame) -> dict:
    if "spread_iqr_pct" in frame.columns:  # format 2: spread over processes
        processes = _get(row, "processes_ok")
        alone = "n/a (1 process)" if not _missing(processes) and processes == 1 else "n/a"
        value = _get(row, "spread_iqr_pct")
        return {"IQR %": alone if _missing(value) else format(value, ".1f")}
    rounds = _get(row, "steady_rounds")
    if not _missing(rounds) and rounds <= 1:
        return {"IQR s": "n/a (1 round)"}
    return {"IQR s": _fmt(_get(row, "steady_epoch_s_iqr"), ".4f")}


def _sd_cell(row) -> str:
    seeds = _get(row, "n_seeds")
    if not _missing(seeds) and seeds <= 1:
        return "n/a (1 seed)"
    return _fmt(_get(row, "test_accuracy_sd"), ".4f")


def _unstable(row) -> bool:
    value = _get(row, "unstable")
    return not _missing(value) and bool(value)  # bool(pd.NA) raises: test missing first


def _row_label(row) -> str:
    return f"{row['row']} {UNSTABLE_MARK}" if _unstable(row) else str(row["row"])


def main_tables(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The three tables of the report (time, accuracy, memory) as display strings.

    Only measured rows (status ok or partial) are in the tables; ``table_notes`` lists the
    others. A row marked unstable by the suite carries ``UNSTABLE_MARK`` after its name.
    Returns {"Time": DataFrame, "Accuracy": DataFrame, "Memory": DataFrame}, every cell a str.
    """
    has_ci = "us_per_step_ci_low" in frame.columns
    has_ratio_ci = "ratio_ci_low" in frame.columns
    ratio_column = ("ratio_to_torch_loop" if "ratio_to_torch_loop" in frame.columns
                    else "time_ratio_to_torch_loop")
    time_rows, acc_rows, mem_rows = [], [], []
    for _, r in frame[frame["status"].isin(MEASURED_STATUSES)].iterrows():
        key = {"Row": _row_label(r)}
        # The estimator in the header: p10 since format 3, the median before.
        time = key | {f"µs/step ({_get(r, 'estimator')})": _fmt(r["us_per_step"], ".1f")}
        if has_ci:
            time["95% CI µs/step"] = _interval(r["us_per_step_ci_low"], r["us_per_step_ci_high"],
                                               ".1f", "n/a (1 process)")
        if not _missing(_get(r, "us_per_step_median")):
            time["Median µs/step"] = _fmt(r["us_per_step_median"], ".1f")
        time |= {"Epoch s (median)": _fmt(r["steady_epoch_s_median"], ".4f")}
        time |= _spread_cells(r, frame)
        time |= {
            "Samples/s": _fmt(r["samples_per_s"], ".0f"),
            "First epoch s": _fmt(r["first_epoch_s"], ".3f"),
            "× torch loop": _fmt(_get(r, ratio_column), ".2f"),
        }
        if has_ratio_ci:
            time["95% CI ×"] = _interval(r["ratio_ci_low"], r["ratio_ci_high"], ".2f", "n/a")
        time_rows.append(time)
        reached = r["time_to_accuracy_reached_seeds"]
        acc_rows.append(key | {
            "Test accuracy": _fmt(r["test_accuracy_mean"], ".4f"),
            "SD": _sd_cell(r),
            "Bayes": _fmt(r["bayes_accuracy"], ".4f"),
            "Final loss": _fmt(r["final_loss_mean"], ".4f"),
            "To target s": _fmt(r["time_to_accuracy_s_median"], ".2f")
            if not _missing(reached) and reached else "not reached",
        })
        mem_rows.append(key | {
            "Peak RSS MiB": _mib(r["peak_rss_above_baseline_bytes"]),
            "After import MiB": _mib(r["rss_after_import_bytes"]),
            "GPU peak MiB": _mib(r["gpu_peak_bytes"]),
        })
    columns = {"Time": ["Row", "µs/step", "Epoch s (median)", "Samples/s", "First epoch s",
                        "× torch loop"],
               "Accuracy": ["Row", "Test accuracy", "SD", "Bayes", "Final loss", "To target s"],
               "Memory": ["Row", "Peak RSS MiB", "After import MiB", "GPU peak MiB"]}
    return {name: (pd.DataFrame(rows).fillna("") if rows else pd.DataFrame(columns=columns[name]))
            for name, rows in [("Time", time_rows), ("Accuracy", acc_rows),
                               ("Memory", mem_rows)]}


def table_notes(frame: pd.DataFrame) -> list[str]:
    """The lines under each table: rows not measured, one line per status and reason, then
    the unstable rows with the suite's reasons. Plain text (escape it for the output format).
    """
    notes = []
    others = frame[~frame["status"].isin(MEASURED_STATUSES)]
    groups: dict[tuple[str, str], list[str]] = {}
    for _, r in others.iterrows():
        groups.setdefault((str(r["status"]), str(r["reason"] or "")), []).append(str(r["row"]))
    for (status, reason), rows in groups.items():
        count = f"{status}, {len(rows)} row{'s' if len(rows) > 1 else ''}: "
        notes.append(count + ", ".join(rows) + (f". Reason: {reason}" if reason else ""))
    for _, r in frame[frame["status"].isin(MEASURED_STATUSES)].iterrows():
        if _unstable(r):
            reasons = _get(r, "unstable_reasons")
            text = "; ".join(reasons) if isinstance(reasons, list | tuple) else (
                "" if _missing(reasons) else str(reasons))
            notes.append(f"{UNSTABLE_MARK} {r['row']} is unstable" +
                         (f": {text}" if text else "") + " (treat its time with care)")
        if r["status"] == "partial" and r["reason"]:
            notes.append(f"{r['row']} is partial: {r['reason']}")
    return notes


def sections(frame: pd.DataFrame) -> list[Section]:
    """The three tables as the report's first sections, each with its caption and, under
    it, the notes of ``table_notes``."""
    notes = table_notes(frame)
    return [Section(key=name.lower(), title=name, caption=CAPTIONS[name], table=table,
                    notes=notes) for name, table in main_tables(frame).items()]
