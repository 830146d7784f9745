"""The tables printed at the end of `pytest --benchmark`, from the run's result model: the
short side-by-side table, and with ``--metric instructions`` the cost table."""

from __future__ import annotations

import re
import textwrap

from results import cost_table, estimate, numbers
from results.model import Row, Run

# The terminal's columns: what a reader checks at a glance, within 120 characters (a block's
# rows under one heading line, each named by its variant). The rest of each row is in the
# report's tables: the median (Time), the ratio's interval (Time), time to target
# (Accuracy), the memory (Memory).
WIDTH = 120
HEADER = ("", f"µs/step {estimate.ESTIMATOR}", "95% CI", "spread %", "× torch loop",
          "1st epoch s", "test accuracy", "")
LEGEND = {
    HEADER[1]: f"µs/step {estimate.ESTIMATOR_TEXT}, 95% two-level bootstrap CI (processes, "
               "then samples)",
    "spread %": "spread %: the sample spread, IQR/median of all the row's one-epoch samples "
                "(the report's Time table adds the process IQR, over processes)",
    "× torch loop": "× torch loop: its p10 over torch loop's",
    "1st epoch s": "1st epoch s: the first epoch, with its compilation ('warm': caches of an "
                   "earlier process)",
    "test accuracy": "test accuracy: mean ± SD over seeds",
}


def _cells(row: Row) -> tuple[str, ...]:
    """The row's cells under ``HEADER``, every number through results.numbers (the reports'
    style); the row is named by its variant under its block's heading (``_block``)."""
    s = row.summary
    if not s:  # None: no process of the row ended ok
        return (row.variant, row.status, *[""] * (len(HEADER) - 2))
    places = numbers.decimals(s.us_per_step, numbers.COLUMN_FIGURES["time"])
    ci = numbers.interval(s.us_per_step_ci_low, s.us_per_step_ci_high, places)
    spread = numbers.number(s.get("sample_spread_iqr_pct"), numbers.COLUMN_FIGURES["percent"])
    accuracy = numbers.ACCURACY_DECIMALS
    sd = numbers.fixed(s.test_accuracy_sd, accuracy)
    seconds = numbers.COLUMN_FIGURES["seconds"]
    first = numbers.number(s.first_epoch_s, seconds) + ("" if s.first_epoch_cold else " (warm)")
    mark = "UNSTABLE" if s.unstable else ("partial" if row.status == "partial" else "")
    return (row.variant, numbers.number(s.us_per_step), ci, spread,
            numbers.ratio(s.ratio_to_torch_loop), first,
            f"{numbers.fixed(s.test_accuracy_mean, accuracy)} ± {sd}", mark)


def _block(row: Row) -> str:
    """The heading of the row's block: "cpu, batch 1 024" (and a sweep point's suffix)."""
    rest = row.id[len(f"{row.variant}-{row.device}-b{row.batch_size}"):].lstrip("-")
    return (f"{row.device}, batch {numbers.grouped(row.batch_size, 0)}"
            + (f", {rest}" if rest else ""))


def _shown_columns(table: list[tuple[str, ...]]) -> list[int]:
    """The columns with a value in some row (``numbers.MISSING`` and "" are none); the first
    always: a column with no value in any row says nothing."""
    return [i for i in range(len(HEADER)) if i == 0 or any(
        r[i] not in (numbers.MISSING, "") for r in table)]


def _table(rows: list[Row]) -> tuple[list[str], list[str]]:
    """The header, its rule and each block's heading and rows; and the headers shown."""
    cells = [_cells(r) for r in rows]
    shown = _shown_columns(cells)
    table = [[HEADER[i] for i in shown]] + [[c[i] for i in shown] for c in cells]
    blocks = [_block(r) for r in rows]
    widths = [max(len(r[j]) for r in table) for j in range(len(shown))]
    widths[0] = max([widths[0], *(len(b) + 1 for b in blocks)])
    line = lambda r: "  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                               for j, (c, w) in enumerate(zip(r, widths))).rstrip()
    lines = [line(table[0])]
    lines.append("-" * len(lines[0]))
    previous = None
    for block, r in zip(blocks, table[1:]):
        if block != previous:  # a block's rows under its heading
            lines.append(block + ":")
            previous = block
        lines.append(line(r))
    return lines, table[0]


def side_by_side(run: Run) -> list[str]:
    """The table's lines for a run (results.model.Run): a heading line per block (device and
    batch size), a line per row, then the notes and a legend of the columns shown."""
    rows = run.rows
    lines, shown = _table(rows)
    for r in rows:
        if r.status not in ("ok", "not run") and r.reason:
            lines.append(f"{r.id} {r.status}: {r.reason.splitlines()[0]}")
        if r.summary and r.summary.unstable:
            lines.append(f"{r.id} unstable: {'; '.join(r.summary.unstable_reasons)}")
    lines += _legend(rows, shown)
    resources = run.get("resources")  # format 3
    if resources is not None and resources.get("peak_resident_total_bytes") is not None:
        lines.append(f"(memory: the run's processes held at most "
                     f"{numbers.number(resources.peak_resident_total_bytes / 2**30)} GiB "
                     f"together, resident; budget for one block's workers "
                     f"{numbers.number(resources.memory_budget_bytes / 2**30)} GiB)")
    return lines


def _legend(rows: list[Row], shown: list[str]) -> list[str]:
    """What each column shown means, the marks, and where the rest is: one parenthesised
    text, wrapped to ``WIDTH`` columns."""
    bayes = next((r.summary.bayes_accuracy for r in rows if r.summary), None)
    if bayes is None:
        return []
    parts = [f"Bayes accuracy of the data: {numbers.fixed(bayes, numbers.ACCURACY_DECIMALS)}"]
    parts += [text for column, text in LEGEND.items() if column in shown]
    parts += [f"UNSTABLE: the CI reaches more than {estimate.UNSTABLE_HALF_WIDTH_PCT:g}% "
              "from the headline",
              f"{numbers.MISSING}: no value, e.g. the interval of a single sample, the SD of "
              "one seed",
              "the median, the ratio's interval, time to target and memory: report.md's "
              "tables"]
    # wrapped to the table's width (WIDTH): one line of 900 characters runs off a
    # terminal and breaks mid-word where the terminal wraps it
    return textwrap.wrap(f"({'; '.join(parts)})", width=WIDTH, break_long_words=False,
                         break_on_hyphens=False)


# What a terminal must not be given raw in a cell: control characters (escape sequences
# from a worker's stderr, line breaks) are written as their code point, ``[U+001B]``.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _markdown_cell(text: str) -> str:
    text = _UNPRINTABLE.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)
    return text.replace("|", "\\|")  # the cell separator


def cost_lines(run: Run) -> list[str]:
    """The cost table (results.cost_table) as a Markdown table under its title, or no lines
    when no row has a cost record (a run without ``--metric instructions``)."""
    lines = cost_table.cost_lines(run.rows)
    if not lines:
        return []
    header = cost_table.HEADER
    out = ["", cost_table.TITLE,
           "| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    for line in lines:
        out.append("| " + " | ".join(_markdown_cell(c) for c in cost_table.cells(line)) + " |")
    return out
