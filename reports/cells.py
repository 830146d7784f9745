"""What the cells of every report table share: a time and its interval, a ratio and its
interval, the mark of a time that is not pinned down, which columns hold numbers, and how a
header keeps its unit.

Shared by the sections that make tables (reports.headline, reports.main_tables,
reports.best) and the renderers that set them (reports.markdown, reports.latex,
reports.html); it calls no other report module, so that none of them has to call another
for a cell. Every cell is a display string of results.numbers.
"""

from __future__ import annotations

import re

import pandas as pd

from results import numbers
from results.summary import REFERENCE_VARIANT

MEASURED_STATUSES = ("ok", "partial")  # rows with numbers; every other row is a note

# After a time per step: the suite marked its row unstable, the time not pinned down (a
# shaded cell in HTML). Said under each table that shows it (UNSTABLE_NOTE).
UNSTABLE_MARK = "†"
UNSTABLE_NOTE = (f"{UNSTABLE_MARK} after a time per step, its cell shaded on the web page: the "
                 "row is unstable, that time not pinned down; the Caveats section says which "
                 "rows and why.")
RATIO = "× torch loop"
UNSTABLE_RATIO_NOTE = (f"{UNSTABLE_MARK} after a ratio: the row's time or the torch loop's is "
                       "unstable, so the ratio is not pinned down either; its interval says "
                       "how far off it may be.")


def time_cells(value, low, high, figures: int = numbers.COLUMN_FIGURES["time"]) -> tuple:
    """(time, "[low, high]") display strings of a time and its 95% interval, in the unit they
    come in (µs per step in every table), ``figures`` significant figures for the time
    (results.numbers.COLUMN_FIGURES) and the interval at the time's decimals;
    ``MISSING`` twice for a missing time."""
    if numbers.is_missing(value):
        return numbers.MISSING, numbers.MISSING
    places = numbers.decimals(float(value), figures)
    return numbers.number(value, figures), numbers.interval(low, high, places)


def ratio_cells(value, low, high) -> tuple:
    """(ratio, "[low, high]") display strings of a ratio (unitless, "0.452×") and its
    interval (results.numbers.ratio, ratio_interval); ``MISSING`` twice for a missing one."""
    if numbers.is_missing(value):
        return numbers.MISSING, numbers.MISSING
    return numbers.ratio(value), numbers.ratio_interval(low, high)


def is_unstable(row) -> bool:
    """Whether the suite marked ``row`` (a tidy frame's row) unstable; False where the
    column is absent or missing (bool(pd.NA) would raise)."""
    value = row.get("unstable")
    return not numbers.is_missing(value) and bool(value)


def ratio_unstable(frame: pd.DataFrame) -> pd.Series:
    """Per row of ``frame`` (bool, its index), whether its "× torch loop" rests on an
    unstable time: its own or the torch loop's of its block, the row whose id is the row's
    with ``torch-loop`` for its variant (same device, batch size and sweep point). The loop's
    own ratio (1.00×, exact) never."""
    unstable = {str(r["row"]): is_unstable(r) for _, r in frame.iterrows()}
    loop_id = lambda r: REFERENCE_VARIANT + str(r["row"])[len(str(r["variant"])):]
    return pd.Series([r["variant"] != REFERENCE_VARIANT
                      and (is_unstable(r) or unstable.get(loop_id(r), False))
                      for _, r in frame.iterrows()], index=frame.index, dtype=bool)


def marked(time: str, unstable: bool) -> str:
    """A time's display string (a value, or "value [low, high]") with ``UNSTABLE_MARK``
    after the value where its row is unstable: the mark sits on the number that is not
    pinned down, not on the row's other columns (its accuracy, its memory)."""
    if not unstable or time == numbers.MISSING:
        return time
    value, bracket, interval = time.partition(" [")
    return f"{value} {UNSTABLE_MARK}{bracket}{interval}"


def shows_unstable_mark(table: pd.DataFrame) -> bool:
    """Whether a cell of ``table`` (display strings) carries ``UNSTABLE_MARK``."""
    return bool(table.map(lambda cell: UNSTABLE_MARK in str(cell)).to_numpy().any()) \
        if len(table) else False


# Why a time has no 95% interval, by the estimator that made it (results/estimate.py for
# p10, results/summary.py's bootstrap_median_ci for format 2's median): said as it is done.
INTERVAL_REASONS = {
    "p10": "A time's 95% interval resamples its processes and the samples within each (a "
           "single process: its samples alone), so only a time of one sample has none.",
    "median": "A time from an older sidebyside's file, the median over processes, has its "
              "interval from resampling the processes: none from one process.",
}


def interval_reason(frame: pd.DataFrame) -> str:
    """Why a time of ``frame`` (the run's tidy table) may lack its interval: the sentences of
    ``INTERVAL_REASONS`` for the estimators its measured rows used (p10 where none says)."""
    measured = frame[frame["status"].isin(MEASURED_STATUSES)]
    used = set(measured["estimator"].dropna()) if "estimator" in measured.columns else set()
    return " ".join(text for name, text in INTERVAL_REASONS.items()
                    if name in used or (name == "p10" and not used))


def without_missing_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (display strings) without the columns in which every cell is ``MISSING``
    or empty: a column with no value in any row (GPU peak on a CPU-only run) tells the
    reader nothing. The first column (the rows' names) always stays; a table without rows
    keeps its columns."""
    if not len(table):
        return table
    # by position: two columns may share a name ("µs/step" of two rows side by side)
    keep = [i for i in range(table.shape[1]) if i == 0 or any(
        str(cell) not in (numbers.MISSING, "") for cell in table.iloc[:, i])]
    return table.iloc[:, keep]


# A cell that shows a number: it starts with one (a sign, digits, infinity), as every
# display string of results.numbers does ("1 024", "415 [415, 418]", "0.452×", "32 (cpu)").
_NUMBER_CELL = re.compile(r"[-+]?[0-9∞]")


def is_number_column(cells) -> bool:
    """Whether a column of display strings holds numbers (right-aligned, so that digits line
    up) rather than text (left-aligned, as text reads): every cell a number, ``MISSING`` or
    empty, and one at least not empty (a column of ``MISSING`` alone is a column of numbers
    that has none)."""
    cells = [str(c) for c in cells]
    shown = [c for c in cells if c not in (numbers.MISSING, "")]
    return any(cells) and all(_NUMBER_CELL.match(c) for c in shown)


# A unit at the end of a column's header (or before its parenthesis): "First epoch s",
# "Epoch s (median)", "Peak RSS MiB". A header that wraps in a narrow column must not leave
# the unit alone on a line ("first / epoch / s"), so it is bound to the word before it.
_HEADER_UNIT = re.compile(r" (s|ms|µs|µs/step|MiB|GiB|%)(?= \(|$)")
NO_BREAK_SPACE = "\u00a0"


def header_label(name) -> str:
    """A column's header as every format shows it: its unit (s, µs/step, MiB, % ...) joined
    to the word before it by ``NO_BREAK_SPACE`` (the "epoch s" of "First epoch s"), so that
    a header wraps between words but never before its unit; other headers unchanged."""
    return _HEADER_UNIT.sub(NO_BREAK_SPACE + r"\1", str(name))


def plot_label(name: str) -> str:
    """A figure's name as its label: ``time_per_step`` is "Time per step"."""
    return name.replace("_", " ").capitalize()
