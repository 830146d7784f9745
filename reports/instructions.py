"""The instructions metric in the reports: the cost of a step beside its time, where the
instructions go, and `compare`'s verdict on the cost.

A run made with ``pytest --benchmark --metric instructions`` holds, per CPU row, a ``cost``
record (docs/result_format.md, "Cost"): instructions per training step counted by valgrind's
callgrind, split by the shared object that executed them. Unlike time, the count repeats:
within 0.5% between processes for most rows here (README, "The cost metric"), so `compare`
can call a 2% change of work, which wall time on this machine cannot.
"""

from __future__ import annotations

import math

import pandas as pd

from reports.document import Section
from reports.tables import csv_text
from results import cost_table, numbers
from results.cost_table import HEADER
from results.cost_table import TITLE as TITLE  # the section's title, also the terminal's
from results.model import Cost, Row, Run

CAPTION = ("Instructions executed per training step, counted by valgrind's callgrind around "
           "one epoch of the counted steps after an uncounted warm-up epoch, one thread, hash "
           "seed 0: a count of work that does not move with the machine's load. Median over "
           "the cost processes; spread: (max - min) / median over them. Beside it the row's "
           "time per step from the timed processes, and where the instructions go (share of "
           "the step): the Python interpreter, the framework's runtime (its own libraries; "
           "numpy's for the numpy twin), math kernels (BLAS, oneDNN, MKL, Eigen's "
           "matrix products), JIT-compiled code (callgrind's '???': XLA's and oneDNN's "
           "generated kernels) and system libraries (the C library, the C++ runtime).")
BREAKDOWN_CATEGORIES = cost_table.CATEGORIES
PLOT = "instructions_per_step"


def section(run: Run, footnote: dict) -> Section | None:
    """The report's cost section: its sentences, table and breakdown plot, and cost.csv;
    None for a run without cost records. ``footnote``: reports.report.footnote's."""
    if not has_section(run):
        return None
    return Section(key="cost", title=TITLE, caption=CAPTION, table=table(run),
                   sentences=sentences(run), figures={PLOT: breakdown_figure(run, footnote)},
                   files={"cost.csv": csv_text(frame(run))})


def counted(row: Row | None) -> Cost | None:
    """``row``'s cost record when it holds a count (status ok or partial), else None."""
    return None if row is None else cost_table.counted(row)


def has_section(run: Run) -> bool:
    """Whether the run has any cost record (then the section appears, with each row's
    reason where it holds no count)."""
    return any(cost_table.cost_record(row) for row in run.rows)


def _lines(run: Run) -> list[cost_table.CostLine]:
    return cost_table.cost_lines(run.rows)


def frame(run: Run) -> pd.DataFrame:
    """cost.csv: one line per row with a cost record, numbers as numbers: ``row``,
    ``status``, ``reason``, ``instructions_per_step``, ``spread_pct``, ``tolerance_pct``,
    ``ratio_to_torch_loop`` (instructions, same device and sizes), ``us_per_step`` (the
    time, from the timed processes) and instructions per step of each category
    (results.cost_table computes them)."""
    return pd.DataFrame([
        {"row": line.row, "status": line.status, "reason": line.reason,
         "instructions_per_step": line.instructions_per_step, "spread_pct": line.spread_pct,
         "tolerance_pct": line.tolerance_pct, "ratio_to_torch_loop": line.ratio_to_torch_loop,
         "us_per_step": line.us_per_step,
         **{f"{c.replace(' ', '_').replace('-', '_').lower()}_per_step":
            line.by_category_per_step.get(c) for c in BREAKDOWN_CATEGORIES}}
        for line in _lines(run)])


def table(run: Run) -> pd.DataFrame:
    """One line per row with a cost record (columns ``HEADER``); one without a count says
    why in its second cell (results.cost_table.cells, which the terminal shows too)."""
    return pd.DataFrame([cost_table.cells(line) for line in _lines(run)], columns=list(HEADER))


def sentences(run: Run) -> list[str]:
    """What a reader needs before the table: how the count was made and what did not count."""
    out = []
    costed = [r for r in run.rows if counted(r)]
    if costed:
        steps = sorted({r.cost.get("counted_steps") for r in costed} - {None})
        processes = sorted({len(r.cost.get("process_instructions_per_step") or [])
                            for r in costed})
        out.append(f"{len(costed)} rows counted, {'/'.join(map(str, processes))} cost "
                   f"process(es) each, {'/'.join(map(str, steps))} counted steps per process.")
    failed = [r.id for r in run.rows if r.cost and not counted(r)
              and r.cost.get("status") != "not applicable"]
    if failed:
        out.append(f"Not counted: {', '.join(failed)} (the table says why).")
    if run.get("cost_wall_s") is not None:
        minutes = numbers.number(run.cost_wall_s / 60, 2)
        out.append(f"The cost processes took {minutes} minutes of wall "
                   "time.")
    return out


def breakdown_figure(run: Run, footnote: dict):
    """Instructions per step of each counted row as one horizontal stacked bar, split by
    BREAKDOWN_CATEGORIES; one panel per device and batch size. Linear axis: the bars' lengths
    add up, which a log axis would hide."""
    from reports import plots

    rows = [r for r in run.rows if counted(r) and r.cost.get("by_category_per_step")]
    if not rows:
        return plots._nothing_measured("Where a step's instructions go", footnote)
    groups: dict[tuple, list[Row]] = {}
    for row in rows:
        groups.setdefault((row.device, row.batch_size), []).append(row)
    colors = dict(zip(BREAKDOWN_CATEGORIES, plots.PALETTE))
    with plots.matplotlib.rc_context(plots.STYLE):
        fig = plots._new_figure()
        axes = fig.subplots(1, len(groups), squeeze=False)[0]
        for ax, ((device, batch), part) in zip(axes, sorted(groups.items())):
            names = [plots._text(r.variant) for r in part]
            left = [0.0] * len(part)
            for category in BREAKDOWN_CATEGORIES:
                widths = [r.cost.by_category_per_step.get(category, 0.0) / 1e6
                          for r in part]
                ax.barh(range(len(part)), widths, left=left, color=colors[category],
                        label=category, edgecolor="white", linewidth=0.5)
                left = [a + b for a, b in zip(left, widths)]
            for y, row in enumerate(part):
                ax.annotate(f"{numbers.number(row.cost.instructions_per_step / 1e6)} M",
                            (left[y], y), xytext=(6, 0), textcoords="offset points",
                            va="center", fontsize=plots.FONT_PT)
            ax.set_yticks(range(len(part)), names)
            ax.set_ylim(len(part) - 0.5, -0.5)
            ax.set_xlim(0, max(left) * 1.3)
            ax.set_xlabel("million instructions per training step")
            ax.set_title(plots._text(f"{device.upper()}, batch {numbers.grouped(batch, 0)}"))
            ax.grid(axis="x", color="0.9")
            ax.set_axisbelow(True)
        plots._legend_below(fig, axes)
        plots._title(fig, "Where a step's instructions go (callgrind, by shared object)",
                     footnote)
    return fig


# -- compare -------------------------------------------------------------------------------

RULE = ("Verdict on the cost (rows whose count does not repeat yet, with a null tolerance, are "
        "judged on time): the ratio range (lowest to highest new/old over the pairs of "
        "cost processes) against the tolerance t, the larger of the two runs' tolerance_pct "
        "(each the row family's measured repeatability or its own process spread, whichever "
        "is larger): slower if the whole range lies above 1 + t, faster if it lies below "
        "1 / (1 + t), same if it lies within [1 / (1 + t), 1 + t], else inconclusive.")


def compare_cost(old_row: Row | None, new_row: Row | None) -> dict | None:
    """The cost verdict of one row measured in both runs, or None when either has no count.

    Returns ``ratio`` (median new / median old instructions per step), ``ci_low`` and
    ``ci_high`` (the lowest and highest new/old over every pair of cost processes; both
    the ratio with one process a side), ``tolerance_pct``, ``verdict`` and the two medians.
    """
    old, new = counted(old_row), counted(new_row)
    if not old or not new:
        return None
    if any(c.tolerance_pct is None for c in (old, new)):
        return None  # a count that does not repeat yet (not_repeatable): judged on time
    a = old.get("process_instructions_per_step") or [old.instructions_per_step]
    b = new.get("process_instructions_per_step") or [new.instructions_per_step]
    ratio = new.instructions_per_step / old.instructions_per_step
    low, high = min(b) / max(a), max(b) / min(a)
    tolerance = max(old.get("tolerance_pct") or 0.0, new.get("tolerance_pct") or 0.0)
    band = 1 + tolerance / 100
    if low > band:
        verdict = "slower"
    elif high < 1 / band:
        verdict = "faster"
    elif 1 / band <= low and high <= band:
        verdict = "same"
    else:
        verdict = "inconclusive"
    return {"ratio": ratio, "ci_low": low, "ci_high": high, "tolerance_pct": tolerance,
            "verdict": verdict, "old_instructions_per_step": old.instructions_per_step,
            "new_instructions_per_step": new.instructions_per_step}


def apply_to_comparison(rows: pd.DataFrame, old: Run, new: Run) -> pd.DataFrame:
    """``rows`` (reports.compare's table, every row judged on time) with the cost columns
    added, and ratio, ci_low, ci_high and verdict replaced by the cost's where both runs
    counted the row; ``metric`` says which decided. The time's ratio stays in
    ``time_ratio``; the time's p values are blanked where the cost decided."""
    rows = rows.copy()
    rows["metric"] = "time"
    rows["time_ratio"] = rows["ratio"]
    for column in ("old_instructions_per_step", "new_instructions_per_step", "tolerance_pct"):
        rows[column] = math.nan
    old_rows = {r.id: r for r in old.rows}
    new_rows = {r.id: r for r in new.rows}
    for i in rows.index:
        name = rows.at[i, "row"]
        result = compare_cost(old_rows.get(name), new_rows.get(name))
        if result is None:
            continue
        for key, value in result.items():
            rows.at[i, key] = value
        rows.at[i, "metric"] = "instructions"
        rows.at[i, "p_value"] = rows.at[i, "p_holm"] = math.nan
        rows.at[i, "processes_needed"] = pd.NA
        rows.at[i, "note"] = ("decided on instructions per step, tolerance "
                              f"±{result['tolerance_pct']:g}%")
    return rows
