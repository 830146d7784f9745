"""The report's Scaling section of a sweep's run: the result in sentences a teacher could
read aloud, the fits' table (on a printed page one per sweep), the scaling plots, sweep.csv
and sweep_fit.csv, all from reports.scaling's numbers."""

from __future__ import annotations

import pandas as pd

from reports import scaling, scaling_plots, tables
from reports.document import LatexTable, Section
from reports.scaling import (
    AXES,
    CONTEXT,
    MEASURED,
    NOT_WITHIN,
    NOT_WITHIN_SHORT,
    panel_title,
)
from results import numbers
from results.model import Run

TITLE = "Scaling"


def section(run: Run, footnote: dict) -> Section | None:
    """The report's Scaling section of a sweep's run: sentences from the numbers, the fits'
    table (on a printed page one per sweep), the scaling plots, sweep.csv and sweep_fit.csv;
    None for any other run. ``footnote``: reports.report.footnote's."""
    if not scaling.has_sweep(run):
        return None
    points, fits = scaling.csv_frames(run)
    return Section(
        key="scaling", title=TITLE, caption=CAPTION, table=display_table(fits),
        sentences=teacher_sentences(points, fits), figures=scaling_plots.figures(points, footnote),
        files={"sweep.csv": tables.csv_text(points), "sweep_fit.csv": tables.csv_text(fits)},
        # One table per sweep, the sweep named in its caption: a Sweep column in every
        # line made the table wider than the page.
        latex=[LatexTable(table, f"{TITLE}, {sweep}. Crossover or within 10% from "
                                 f"{NOT_WITHIN_SHORT}: {NOT_WITHIN}.")
               for sweep, table in display_tables_by_sweep(fits)])


# -- words ------------------------------------------------------------------------------------


def _axis_words(axis: str, value) -> str:
    text = numbers.grouped(int(value), 0)
    return {"batch": f"batch {text}", "hidden": f"width {text}",
            "n_train": f"{text} training samples"}[axis]


def _grows_to(axis: str, value) -> str:
    text = numbers.grouped(int(value), 0)
    return {"batch": f"As the batch size grows to {text}",
            "hidden": f"As the hidden width grows to {text}",
            "n_train": f"As the training set grows to {text} samples"}[axis]


def _times(ratio: float) -> str:
    return f"{numbers.number(ratio, numbers.COLUMN_FIGURES['ratio'])} times"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def teacher_sentences(points: pd.DataFrame, fits: pd.DataFrame) -> list[str]:
    """Two sentences a teacher could read aloud, from the numbers: the fixed cost per step
    and the gap it makes at the smallest size (batch axis, else the first), then how far
    the gap closes at the largest size and which frameworks catch up (the width axis, else
    the same). Empty without fits."""
    measured = points[points["status"].isin(MEASURED) & points["us_per_step"].notna()]
    if fits.empty or measured.empty:
        return []
    axes = list(dict.fromkeys(fits["axis"]))
    first = "batch" if "batch" in axes else axes[0]
    last = "hidden" if "hidden" in axes else first
    device = fits["device"].iloc[0]
    sentences = []
    for axis, sentence in ((first, _smallest_sentence), (last, _largest_sentence)):
        lines = measured[(measured["axis"] == axis) & (measured["device"] == device)]
        lines = lines[lines[CONTEXT[axis][0]] == lines[CONTEXT[axis][0]].iloc[0]]
        text = sentence(axis, device, lines, fits[(fits["axis"] == axis)
                                                  & (fits["device"] == device)])
        if text:
            sentences.append(text)
    return sentences


def _ends(axis: str, lines: pd.DataFrame, at: str) -> tuple:
    """(value, the rows there, the fastest, the slowest, slowest / fastest) at the smallest
    or largest swept value of ``lines``."""
    column = AXES[axis][0]
    value = lines[column].min() if at == "smallest" else lines[column].max()
    here = lines[lines[column] == value]
    fast, slow = here.loc[here["us_per_step"].idxmin()], here.loc[here["us_per_step"].idxmax()]
    return value, here, fast, slow, slow["us_per_step"] / fast["us_per_step"]


def _smallest_sentence(axis: str, device: str, lines: pd.DataFrame, fits: pd.DataFrame) -> str:
    """The fixed cost per step, and the gap it makes at the smallest swept value."""
    value, here, fast, slow, gap = _ends(axis, lines, "smallest")
    low = fits.loc[fits["overhead_us"].idxmin()]
    high = fits.loc[fits["overhead_us"].idxmax()]
    if len(here) < 2:  # one row: nothing to compare it with
        return (f"Every training step of {low['variant']} pays a fixed cost of "
                f"{_us_words(low['overhead_us'])} on the {device.upper()} that SimpleNet's "
                f"arithmetic cannot hide.")
    return (f"Every training step pays a fixed cost that SimpleNet's arithmetic cannot "
            f"hide, from {_us_words(low['overhead_us'])} ({low['variant']}) to "
            f"{_us_words(high['overhead_us'])} ({high['variant']}) on the {device.upper()}, "
            f"so at {_axis_words(axis, value)} the slowest row ({slow['variant']}) takes "
            f"{_times(gap)} as long per step as the fastest ({fast['variant']}).")


def _largest_sentence(axis: str, device: str, lines: pd.DataFrame,
                      fits: pd.DataFrame) -> str | None:
    """How far the gap closes at the largest swept value and which frameworks come within
    10% of the fastest and stay there (None: one row, nothing to compare)."""
    column = AXES[axis][0]
    value, here, fast, _, gap = _ends(axis, lines, "largest")
    if axis == "n_train":  # a step does not see the data set: epochs and memory grow
        return _n_train_sentence(lines[column].min(), value, fits)
    if len(here) < 2:
        return None
    best = fits.drop_duplicates("implementation")
    fastest = fits.loc[fits["variant"] == fast["variant"], "implementation"].iloc[0]
    # The fastest framework is within 10% of itself: it is not one that "comes within".
    others = best[best["implementation"] != fastest]
    caught = others[others["within_from"] != NOT_WITHIN]
    behind = others[others["within_from"] == NOT_WITHIN]
    start = lines[lines[column] == lines[column].min()]["us_per_step"]
    before = start.max() / start.min()
    change = (f"shrinks from {_times(before)} to {_times(gap)}" if gap < before else
              f"is {_times(gap)} ({_times(before)} at the smallest)")
    text = (f"{_grows_to(axis, value)}, the gap between the slowest and the fastest row "
            f"{change}")
    if len(others) == 0:  # one framework: no framework to compare
        return text + "."
    text += f"; {fastest} is the fastest there, and "
    if len(caught):
        text += (f"{len(caught)} of the {len(others)} other"
                 f"{'' if len(others) == 1 else 's'} "
                 f"{'comes' if len(caught) == 1 else 'come'} within 10% of it and "
                 f"stay{'s' if len(caught) == 1 else ''} there ("
                 + _and([f"{r.implementation} from {_axis_words(axis, r.within_from)}"
                         for r in caught.itertuples()]) + ")")
    else:
        text += (f"{'the other' if len(others) == 1 else 'none of the others'} "
                 f"{'does not come' if len(others) == 1 else 'comes'} within 10% of it")
    if len(behind) and len(caught):
        text += (", while " + _and(list(behind["implementation"]))
                 + (" stays" if len(behind) == 1 else " stay")
                 + " slower over the whole sweep")
    return text + "."


def _n_train_sentence(smallest, largest, fits: pd.DataFrame) -> str:
    """The training-set sweep in words: how time per epoch and the process's peak memory
    grow (their log-log slopes over the rows); time per step is no result there."""
    def spread(values) -> str:
        values = pd.to_numeric(values).dropna()
        if values.empty:
            return "an unknown slope"
        low, high = f"{values.min():.2f}", f"{values.max():.2f}"
        return f"a log-log slope of {low}" + ("" if low == high else f" to {high}")
    return (f"As the training set grows from {numbers.grouped(int(smallest), 0)} to "
            f"{numbers.grouped(int(largest), 0)} samples, "
            f"time per epoch grows with {spread(fits['epoch_time_loglog_slope'])} and the "
            f"whole process's peak memory, data included, with "
            f"{spread(fits['peak_memory_loglog_slope'])} (1: in proportion; 0: not at all); "
            f"time per step should not grow, since a step does not see the data set.")


def _us_words(us: float) -> str:
    """A fitted overhead in words: a fit can put a cost too small to measure under 0."""
    return "under 1 µs" if us < 1 else f"{numbers.number(us)} µs"


# -- the table --------------------------------------------------------------------------------

CAPTION = ("Per variant and swept axis: a robust straight-line fit (Theil-Sen over every "
           "process's time per step) of µs per step = "
           "overhead + cost per unit × size, with 95% bootstrap "
           "intervals over processes. Overhead-bound below: the size under which the fixed "
           "cost per step outweighs the cost that grows with the size (time stays flat). "
           "Slopes: how time per epoch and peak memory grow on log-log axes (1: in "
           "proportion; 0: not at all; -1: time per epoch halves as the batch doubles). "
           "Crossover: the smallest swept size at which the variant's framework, at its "
           "fastest row, is within 10% of the fastest row there; within 10% from: the "
           "smallest from which on it stays within at every larger swept size. A step's time "
           "is its epoch's time over its steps, so a cost paid once an epoch (Keras's fit "
           "sets up each epoch) weighs on an epoch of few large steps. For the training "
           "samples, a step does not see the data set: its fit is only a check, and the "
           "memory slope is that of the whole process's peak, data included "
           "(process_peak_rss_bytes); for the other axes, of the peak above an epoch's "
           "start (peak_rss_bytes). sweep.csv's regime of a point follows the same rule at "
           "its size: overhead-bound at or below the overhead-bound size.")


def _number(value, spec: str) -> str:
    return "–" if value is None or pd.isna(value) else format(value, spec)


def _with_ci(value, low, high, spec: str) -> str:
    text = _number(value, spec)
    if low is not None and high is not None and not pd.isna(low) and not pd.isna(high):
        text += f" [{format(low, spec)}, {format(high, spec)}]"
    return text


def display_tables_by_sweep(fits: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``display_table`` for a printed page: per sweep (axis, device and fixed sizes) two
    narrow tables, the fit and the growth, as (caption, table of str). The sweep and the
    unit move into the caption and the header, an interval into a "95% CI" column (a second
    line under its number in ``latex.to_latex``), ``NOT_WITHIN`` becomes
    ``NOT_WITHIN_SHORT``."""
    groups = []
    table = display_table(fits).assign(unit=list(fits["unit"]))
    for sweep, group in table.groupby("Sweep", sort=False):
        rows = fits.loc[group.index]
        unit = group["unit"].iloc[0]
        fit = pd.DataFrame({
            "Row": group["Row"],
            "Overhead µs/step": [_number(v, ",.0f") for v in rows["overhead_us"]],
            "95% CI overhead": [_interval(lo, hi, ",.0f") for lo, hi in
                                zip(rows["overhead_ci_low_us"], rows["overhead_ci_high_us"])],
            f"Cost per {unit}, ns": [_number(v, ".3g") for v in rows["per_unit_ns"]],
            "95% CI cost": [_interval(lo, hi, ".3g") for lo, hi in
                            zip(rows["per_unit_ci_low_ns"], rows["per_unit_ci_high_ns"])],
            "Overhead-bound below": group["Overhead-bound below"],
            "At the largest": group["At the largest"]})
        # "Peak RSS": latex.to_latex's width estimate is short for "Memory" (M and m).
        growth = group[["Row", "Epoch-time slope", "Memory slope", "Crossover",
                        "Within 10% from"]].replace({NOT_WITHIN: NOT_WITHIN_SHORT}) \
            .rename(columns={"Memory slope": "Peak RSS slope"})
        groups += [(f"{sweep}: the fit", fit), (f"{sweep}: growth and crossover", growth)]
    return groups


def _interval(low, high, spec: str) -> str:
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return ""
    return f"[{format(low, spec)}, {format(high, spec)}]"


def display_table(fits: pd.DataFrame) -> pd.DataFrame:
    """``fit_table``'s lines as display strings for the report (every cell a str)."""
    records = []
    for r in fits.itertuples(index=False):
        context = panel_title(r.axis, r.device, {"batch_size": r.batch_size,
                                                  "hidden_size": r.hidden_size,
                                                  "n_train": r.n_train})
        records.append({
            "Row": r.variant, "Sweep": context,
            "Overhead µs/step": _with_ci(r.overhead_us, r.overhead_ci_low_us,
                                         r.overhead_ci_high_us, ",.0f"),
            "Cost per unit, ns": f"{_with_ci(r.per_unit_ns, r.per_unit_ci_low_ns, r.per_unit_ci_high_ns, '.3g')} per {r.unit}",  # noqa: E501
            "Overhead-bound below": _number(r.overhead_bound_below, ",.0f"),
            "At the largest": r.regime_at_largest,
            "Epoch-time slope": _number(r.epoch_time_loglog_slope, ".2f"),
            "Memory slope": _number(r.peak_memory_loglog_slope, ".2f"),
            "Crossover": str(r.crossover), "Within 10% from": str(r.within_from)})
    return pd.DataFrame.from_records(records, columns=[
        "Row", "Sweep", "Overhead µs/step", "Cost per unit, ns", "Overhead-bound below",
        "At the largest", "Epoch-time slope", "Memory slope", "Crossover", "Within 10% from"])
