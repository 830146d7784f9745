"""The report's three main tables (Time, Accuracy, Memory) as display strings, and the notes
under them, from a run's tidy frame (reports.tables.tidy).

Columns of result format 2 (docs/result_format.md, Summary) are read when present and left
out when absent, so that the same code renders format-1 files and later formats.
"""

from __future__ import annotations

import pandas as pd

from reports.cells import (
    MEASURED_STATUSES,
    RATIO,
    UNSTABLE_NOTE,
    UNSTABLE_RATIO_NOTE,
    interval_reason,
    is_unstable,
    marked,
    ratio_cells,
    ratio_unstable,
    shows_unstable_mark,
    time_cells,
    without_missing_columns,
)
from reports.document import LatexTable, Section
from reports.trained import epochs_sentence
from results import numbers

CAPTIONS = {
    "Time": "Steady-state training time of one training step, by the estimator in the "
            "column's header. p10: the 10th percentile of one-epoch samples taken by workers "
            "that stay resident and are sampled in rounds interleaved with the other rows "
            "(robust to the time a busy machine adds), with its 95% two-level bootstrap "
            "interval (processes, then samples within them) and the median of the same "
            "samples beside it; median (a result file of an older sidebyside): the median "
            "over processes of each one's median steady epoch, with a 95% bootstrap interval "
            "over processes. × torch loop: the ratio to the "
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
    return numbers.is_missing(value)


def _get(row, column):
    """The value of ``column`` in ``row``, or None where tidy() did not provide it."""
    return row[column] if column in row.index else None


def _mib(value) -> str:
    return numbers.number(None if _missing(value) else value / 2**20,
                          numbers.COLUMN_FIGURES["memory"])


# The Time table's two spreads, each the IQR over the median in percent but of other things:
# said under the table where its column is shown (``spread_notes``). The terminal's
# "spread %" (benchmarks/table.py) is SAMPLE_SPREAD's.
PROCESS_IQR, SAMPLE_SPREAD = "Process IQR %", "Sample spread %"
SPREADS = {
    PROCESS_IQR: "the IQR/median of the processes' own times per step: how much a new "
                 "process may differ (needs 3 processes).",
    SAMPLE_SPREAD: "the IQR/median of all the row's one-epoch samples, every process's "
                   "together: how much one epoch varies (needs 3 samples).",
}


def _spread_cells(row, frame: pd.DataFrame) -> dict:
    percent = numbers.COLUMN_FIGURES["percent"]
    if "spread_iqr_pct" in frame.columns:  # format 2: spread over processes
        cells = {PROCESS_IQR: numbers.number(_get(row, "spread_iqr_pct"), percent)}
        if "sample_spread_iqr_pct" in frame.columns:  # format 3: and over the samples
            cells[SAMPLE_SPREAD] = numbers.number(_get(row, "sample_spread_iqr_pct"), percent)
        return cells
    rounds = _get(row, "steady_rounds")
    if not _missing(rounds) and rounds <= 1:  # one round has no spread, not a spread of 0
        return {"IQR s": numbers.MISSING}
    return {"IQR s": numbers.number(_get(row, "steady_epoch_s_iqr"),
                                    numbers.COLUMN_FIGURES["seconds"])}


def _seconds(value) -> str:
    return numbers.number(value, numbers.COLUMN_FIGURES["seconds"])


def _accuracy(value) -> str:
    return numbers.fixed(value, numbers.ACCURACY_DECIMALS)


def main_tables(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The three tables of the report (time, accuracy, memory) as display strings.

    Only measured rows (status ok or partial) are in the tables; ``table_notes`` lists the
    others. The time per step of a row marked unstable by the suite carries
    ``UNSTABLE_MARK`` after it (``marked``); its accuracy and memory do not.
    Returns {"Time": DataFrame, "Accuracy": DataFrame, "Memory": DataFrame}, every cell a str.
    """
    has_ci = "us_per_step_ci_low" in frame.columns
    has_ratio_ci = "ratio_ci_low" in frame.columns
    ratio_column = ("ratio_to_torch_loop" if "ratio_to_torch_loop" in frame.columns
                    else "time_ratio_to_torch_loop")
    time_rows, acc_rows, mem_rows = [], [], []
    measured = frame[frame["status"].isin(MEASURED_STATUSES)]
    shaky = ratio_unstable(measured)
    for index, r in measured.iterrows():
        key = {"Row": str(r["row"])}
        # The estimator in the header: p10 since format 3, the median before.
        us, us_ci = time_cells(r["us_per_step"], _get(r, "us_per_step_ci_low"),
                               _get(r, "us_per_step_ci_high"))
        time = key | {f"µs/step ({_get(r, 'estimator')})": marked(us, is_unstable(r))}
        if has_ci:
            time["95% CI µs/step"] = us_ci
        if not _missing(_get(r, "us_per_step_median")):
            time["Median µs/step"] = numbers.number(r["us_per_step_median"])
        time |= {"Epoch s (median)": _seconds(r["steady_epoch_s_median"])}
        time |= _spread_cells(r, frame)
        ratio, ratio_ci = ratio_cells(_get(r, ratio_column), _get(r, "ratio_ci_low"),
                                      _get(r, "ratio_ci_high"))
        time |= {
            "Samples/s": numbers.rate(r["samples_per_s"]),
            "First epoch s": _seconds(r["first_epoch_s"]),
            "× torch loop": marked(ratio, shaky[index]),
        }
        if has_ratio_ci:
            time["95% CI ×"] = ratio_ci
        time_rows.append(time)
        reached = r["time_to_accuracy_reached_seeds"]
        acc_rows.append(key | {
            "Test accuracy": _accuracy(r["test_accuracy_mean"]),
            "SD": _accuracy(_get(r, "test_accuracy_sd")),
            "Bayes": _accuracy(r["bayes_accuracy"]),
            "Final loss": _accuracy(r["final_loss_mean"]),
            TO_TARGET: _seconds(r["time_to_accuracy_s_median"])
            if not _missing(reached) and reached else numbers.MISSING,
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


# A row's status as the verb of "8 rows were ...".
_STATUS_WORDS = {"skipped": "skipped", "failed": "failed", "timeout": "stopped at the time "
                 "limit", "not run": "not run"}
NOTHING_TITLE = "Nothing measured"


def nothing_measured(frame: pd.DataFrame) -> str:
    """One sentence for a run of which no row was measured, saying why: "Nothing was
    measured, so this report has no tables or plots: all 8 rows were skipped, for this
    reason: no NVIDIA GPU on this machine." (each status and reason once). Plain text."""
    groups: dict[tuple[str, str], int] = {}
    for status, reason in zip(frame["status"], frame["reason"]):
        key = (str(status), str(reason or "").strip().rstrip("."))
        groups[key] = groups.get(key, 0) + 1
    parts = []
    for (status, reason), count in groups.items():
        rows = (f"all {count} rows were" if len(groups) == 1 and count > 1 else
                f"{count} row{'s were' if count > 1 else ' was'}")
        parts.append(f"{rows} {_STATUS_WORDS.get(status, status)}"
                     + (f", for this reason: {reason}" if reason else ""))
    return ("Nothing was measured, so this report has no tables or plots: "
            + "; ".join(parts) + ".")


TO_TARGET = "To target s"
NO_TARGET_NOTE = (f"No seed of any row reached the target accuracy in the epochs trained, so "
                  f"the table has no {TO_TARGET} column.")
# Why a cell of each table shows MISSING: said once under the table that has one.
MISSING_REASONS = {
    "Time": f"{numbers.MISSING}: no value. The torch loop's ratio to itself has no "
            "interval.",
    "Accuracy": f"{numbers.MISSING}: no value. SD needs 2 seeds or more; To target s: no "
                "seed reached the target accuracy in the epochs trained.",
    "Memory": f"{numbers.MISSING}: no value.",
}


def missing_notes(name: str, table: pd.DataFrame, frame: pd.DataFrame | None = None
                  ) -> list[str]:
    """The note that explains ``MISSING`` under table ``name``, when a cell shows it; under
    Time with why a time may lack its interval (``interval_reason`` of ``frame``, the run's
    tidy table, where given and the table has an interval column)."""
    shown = (table.astype(str) == numbers.MISSING).to_numpy().any() if len(table) else False
    if not shown:
        return []
    reason = MISSING_REASONS[name]
    if name == "Memory" and "GPU peak MiB" in table.columns:
        reason += " GPU peak: the row ran on the CPU."
    if name == "Time" and "IQR s" in table.columns:
        reason += " IQR s (a format-1 file's) needs 2 rounds."
    if name == "Time" and frame is not None and any("CI" in str(c) for c in table.columns):
        reason += " " + interval_reason(frame)
    return [reason]


def spread_notes(table: pd.DataFrame) -> list[str]:
    """What each spread column that ``table`` (the Time table) shows is (``SPREADS``), one
    line, said once."""
    shown = [f"{name}: {text}" for name, text in SPREADS.items() if name in table.columns]
    return [" ".join(shown)] if shown else []


def _target_sentence(frame: pd.DataFrame) -> str:
    """The sentence that ends the Accuracy caption, e.g. " The target accuracy: 0.850 (the
    Bayes accuracy 0.900 minus 0.050).", or "" where the run does not say: what "To target"
    means, written beside the table."""
    measured = frame[frame["status"].isin(MEASURED_STATUSES)] if len(frame) else frame
    if "target_accuracy" not in measured.columns or measured["target_accuracy"].dropna().empty:
        return ""
    target = measured["target_accuracy"].dropna().iloc[0]
    text = f" The target accuracy: {numbers.fixed(target, numbers.ACCURACY_DECIMALS)}"
    bayes = measured["bayes_accuracy"].dropna() if "bayes_accuracy" in measured else []
    if len(bayes):
        gap = bayes.iloc[0] - target
        text += (f" (the Bayes accuracy {numbers.fixed(bayes.iloc[0], numbers.ACCURACY_DECIMALS)}"
                 f" minus {numbers.fixed(gap, numbers.ACCURACY_DECIMALS)})")
    return text + "."


def sections(frame: pd.DataFrame, plan: dict | None = None) -> list[Section]:
    """The three tables as sections, each with its caption; the notes under each say what
    its marks mean (``MISSING``; ``UNSTABLE_MARK``, which only times carry: under Time),
    the caveats themselves are said once
    in reports.caveats. ``plan``: the run's plan, whose epochs the Accuracy caption states
    (``epochs_sentence``); None leaves them out."""
    out = []
    for name, table in main_tables(frame).items():
        # a column with no value in any row (GPU peak on a CPU run, a process IQR of one
        # process) says nothing: left out, and its note with it
        shown = without_missing_columns(table)
        notes = (spread_notes(shown) if name == "Time" else []) + missing_notes(name, shown,
                                                                                 frame)
        if TO_TARGET in table.columns and TO_TARGET not in shown.columns:
            notes.append(NO_TARGET_NOTE)  # the caption promises the column: say why not
        table = shown
        if shows_unstable_mark(table.drop(columns=[RATIO], errors="ignore")):
            notes.append(UNSTABLE_NOTE)  # Time's: the only one of the three with a time
        if RATIO in table.columns and shows_unstable_mark(table[[RATIO]]):
            notes.append(UNSTABLE_RATIO_NOTE)
        latex = None
        if name == "Time":  # a printed page has no room for what the others follow from
            left_out = [c for c in PRINT_LEAVES_OUT if c in table.columns]
            narrow = table.drop(columns=left_out)
            # the printed notes define only the spreads the printed table shows
            printed = spread_notes(narrow) + [n for n in notes if n not in spread_notes(table)]
            latex = [LatexTable(narrow, None, printed + ([print_note(left_out)]
                                                         if left_out else []))]
        caption = CAPTIONS[name] + (_target_sentence(frame) + epochs_sentence(plan or {}, frame)
                                    if name == "Accuracy" else "")
        out.append(Section(key=name.lower(), title=name, caption=caption, table=table,
                           notes=notes, latex=latex))
    return out


# Time columns that a printed page leaves out: the first two follow from the time per step
# (the epoch's steps and the batch size), the third is beside the process IQR; without them
# the table fits an article's text block.
PRINT_LEAVES_OUT = ("Epoch s (median)", "Samples/s", SAMPLE_SPREAD)


def print_note(left_out: list[str]) -> str:
    """The printed Time table's note naming the columns it leaves out (``PRINT_LEAVES_OUT``
    that the screen's table shows): "Epoch s (median), Samples/s and Sample spread % are in
    report.html, report.md and results.csv." """
    names = ", ".join(left_out[:-1]) + (" and " if len(left_out) > 1 else "") + left_out[-1]
    return f"{names} {'is' if len(left_out) == 1 else 'are'} in report.html, report.md and " \
        "results.csv."
