"""`compare`'s result (reports.compare.Comparison) as Markdown: a note per run, one table line
per row compared, the rules that gave the verdicts, then what was not compared."""

from __future__ import annotations

import pandas as pd

from reports import instructions, numbers
from reports.cells import is_number_column
from reports.compare import Comparison
from reports.compare_rule import (
    CI_NAME,
    CORRECTION_NAME,
    MIN_PROCESSES_PER_SIDE,
    MIN_SAMPLES_PER_SIDE,
    TEST_NAME,
    TOO_FEW_PROCESSES,
    VERDICTS,
    robust_rule,
)
from reports.markdown import markdown_escape
from reports.markdown import to_markdown as table_markdown
from reports.text import plain_text
from results.estimate import ESTIMATOR
from results.format import FORMAT_2_ESTIMATOR


def to_markdown(comparison: Comparison, old_name: str, new_name: str,
                plain: bool = False) -> str:
    """The comparison as Markdown: method, one table line per row, then what was not compared.
    ``old_name`` and ``new_name``: how the title names the two runs (their paths).
    ``plain``: the same as plain text for a terminal (what `compare` prints): no Markdown
    escapes or heading marks, the table in aligned columns."""
    c = comparison
    esc = _plain if plain else markdown_escape
    table = _plain_table if plain else table_markdown
    heading = "" if plain else "# "
    lines = [f"{heading}sidebyside comparison: {esc(new_name)} against {esc(old_name)}", ""]
    if not len(c.rows) or (c.rows["verdict"] != TOO_FEW_PROCESSES).any():
        # Where no row could be judged (every row had one process in a run) no rule gave a
        # verdict, and no row can be a REGRESSION: the reason under the table says why.
        lines += ["Each row's estimator is in the table; the rule that gives the verdicts is "
                  f"under it. REGRESSION: slower by more than {c.threshold_pct:g}%.", ""]
    lines += [f"Note: {esc(note)}." for note in c.notes] + ([""] if c.notes else [])
    if len(c.rows):
        lines += [table(_shown(c.rows)), ""]
        lines += [line for rule in _rules(c) for line in (esc(rule), "")]
        lines += _summary(c)
    else:
        lines += ["No row was measured in both runs.", ""]
    if c.skipped_in_both:
        lines += [f"{_rows(len(c.skipped_in_both), 'was', 'were')} skipped in both runs "
                  f"({esc(', '.join(c.skipped_in_both))}).", ""]
    for title, items in [("Only in the old run", c.only_old), ("Only in the new run", c.only_new),
                         ("In both runs but not measured in both", c.not_compared),
                         ("In both runs but at other sizes, so not compared", c.resized),
                         ("Environment and configuration differences", c.differences)]:
        if items:
            lines += [f"## {title}" if not plain else f"{title}:", ""]
            lines += [f"- {esc(item)}" for item in items] + [""]
    return "\n".join(lines)


def _plain(text) -> str:
    """``text`` for the terminal: ``plain_text`` (no control characters) on one line."""
    return " ".join(plain_text(text).splitlines())


def _plain_table(table: pd.DataFrame) -> str:
    """``table`` (display strings) as plain-text columns: the header, a rule of dashes, one
    line per row; columns of numbers right-aligned (``is_number_column``), as in Markdown."""
    header = [_plain(h) for h in table.columns]
    body = [[_plain(cell) for cell in row] for row in table.itertuples(index=False)]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    right = [i > 0 and is_number_column(table.iloc[:, i]) for i in range(len(header))]
    lay = lambda line: "  ".join(cell.rjust(w) if r else cell.ljust(w)
                                 for cell, w, r in zip(line, widths, right)).rstrip()
    return "\n".join([lay(header), "  ".join("-" * w for w in widths)]
                     + [lay(line) for line in body])


def _rows(n: int, one: str = "had", many: str = "had") -> str:
    """"1 row was", "3 rows were": the count (results.numbers.counted) and its verb."""
    return f"{numbers.counted(n, 'row')} {one if n == 1 else many}"


# Below this a p value shows as "< 0.0001": the number style's four decimals would round it
# to 0, which no test gives.
_P_SHOWN_DOWN_TO = 1e-4


def _p(value) -> str:
    """A p value to two significant figures, "< 0.0001" below that, or MISSING."""
    if numbers.is_missing(value):
        return numbers.MISSING
    if value < _P_SHOWN_DOWN_TO:
        return f"< {numbers.fixed(_P_SHOWN_DOWN_TO, 4)}"
    return numbers.number(value, 2)


def _rules(c: Comparison) -> list[str]:
    """The rules in words: the robust path's where rows were judged on it, the older files'
    median rule where rows were. The robust rule is left out where it judged no row (each
    had too few processes, or was decided on instructions); the median rule's untested rows
    are its "inconclusive", which it explains."""
    band = 1 + c.delta_pct / 100
    robust = bool((c.judged & (c.rows["metric"] == "time")
                   & (c.rows["estimator"] == ESTIMATOR)).any())
    legacy = bool((c.rows["estimator"] != ESTIMATOR).any())
    legacy_rule = (f"Rule ({FORMAT_2_ESTIMATOR} rows, from result files of an older "
                   "sidebyside): one sample per worker process (its µs/step). New/old: "
                   "ratio of the medians; "
                   f"{CI_NAME}; p from {TEST_NAME}, adjusted by {CORRECTION_NAME}. Verdict: "
                   f"same if the interval lies within {numbers.ratio_interval(1 / band, band)} "
                   f"(±{c.delta_pct:g}%); slower or faster if adjusted p < {c.alpha:g} and the "
                   "interval lies above or below 1; else inconclusive.")
    return ([robust_rule(c.delta_pct, c.alpha, c.robust_rows, c.machine_factor, c.normalised)]
            if robust else []) + ([legacy_rule] if legacy else [])


def _shown(rows: pd.DataFrame) -> pd.DataFrame:
    """The table as shown: one line per row compared, numbers as display strings in the
    reports' number style (results.numbers), and the cost's columns beside the time where a
    row was judged on its instructions."""
    shown = pd.DataFrame({
        "Row": rows["row"],
        "Old µs/step": rows["old_us_per_step"].map(numbers.number),
        "New µs/step": rows["new_us_per_step"].map(numbers.number),
        "Processes": [f"{a} / {b}" for a, b in zip(rows["old_processes"],
                                                 rows["new_processes"])],
        "Estimator": rows["estimator"],
        "New/old": rows["ratio"].map(numbers.ratio),
        "Interval": [numbers.ratio_interval(lo, hi)
                     for lo, hi in zip(rows["ci_low"], rows["ci_high"])],
        "p (Holm)": rows["p_holm"].map(_p),
        "Verdict": [v + (", REGRESSION" if r else "") for v, r in
                    zip(rows["verdict"], rows["regression"])],
        "Unstable": rows["unstable"],
        "Note": rows["note"],
    })
    # A column of nothing (every cell missing or empty: a p value where every row is judged
    # on p10, which has none; a note or an instability no row has) is left out; the CSV
    # keeps every column, so that its columns stay the same from file to file.
    empty = [name for name in shown.columns
             if shown[name].fillna("").isin(["", numbers.MISSING]).all()]
    shown = shown.drop(columns=empty)
    if (rows["metric"] == "instructions").any():
        # The cost beside the time: the time's ratio stays visible where the cost decided.
        shown.insert(5, "Metric", rows["metric"])
        shown.insert(6, "Old instr/step", rows["old_instructions_per_step"].map(numbers.number))
        shown.insert(7, "New instr/step", rows["new_instructions_per_step"].map(numbers.number))
        shown.insert(8, "Time new/old", rows["time_ratio"].map(numbers.ratio))
    return shown


def _summary(c: Comparison) -> list[str]:
    """The lines under the rules: how many rows were judged on instructions, the verdicts
    counted, rows with too few processes and unstable rows."""
    lines = []
    counted = c.rows["metric"] == "instructions"
    if counted.any():
        lines += [f"{_rows(int(counted.sum()), 'was', 'were')} judged on instructions "
                  f"per step (both runs counted them), the rest on time. "
                  f"{instructions.RULE}", ""]
    counts = c.rows["verdict"].value_counts()
    lines += ["Verdicts: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS
                                       if v != TOO_FEW_PROCESSES or counts.get(v, 0))
              + ".", ""]
    few = int((c.rows["verdict"] == TOO_FEW_PROCESSES).sum())
    if few:
        lines += [f"{_rows(few)} fewer than {MIN_PROCESSES_PER_SIDE} processes in a run "
                  f"(verdict \"{TOO_FEW_PROCESSES}\"): the difference between processes is "
                  "not measured, so no verdict and no interval; run with --processes "
                  f"{MIN_PROCESSES_PER_SIDE} or more (the default preset runs 3).", ""]
    vague = c.rows[(c.rows["verdict"] == "inconclusive") & (c.rows["metric"] == "time")
                   & (c.rows["estimator"] == ESTIMATOR)]
    if len(vague):
        lines += [f"{_rows(len(vague), 'was', 'were')} inconclusive on {ESTIMATOR}: each "
                  f"interval holds 1 and reaches beyond ±{c.delta_pct:g}%; more --rounds or "
                  "--processes narrow it.", ""]
    if c.too_few:
        lines += [f"{_rows(len(c.too_few))} too few processes for the test to ever "
                  f"reach its level (at least {MIN_SAMPLES_PER_SIDE} per side are needed) "
                  "and count as inconclusive.", ""]
    unstable = c.rows[c.rows["unstable"] != ""]
    if len(unstable):
        # Only an interval in the table can carry the instability: a row without one (too
        # few processes) is not pointed at one.
        with_interval = int(unstable["ci_low"].notna().sum())
        carried = ("" if not with_interval else "; their intervals above carry that"
                   if with_interval == len(unstable)
                   else "; the intervals above carry that where a row has one")
        lines += [f"{_rows(len(unstable), 'was', 'were')} unstable in a run (p10 rows: "
                  "an interval wider than ±5% around the headline; median rows: spread "
                  f"over processes or starved workers){carried}.", ""]
    return lines
