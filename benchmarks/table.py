"""The tables printed at the end of `pytest --benchmark`, from the run's result model: the
short side-by-side table, and with ``--metric instructions`` the cost table."""

from __future__ import annotations

import re

from results import cost_table, estimate, numbers
from results.model import Row, Run

HEADER = ("row", f"µs/step {estimate.ESTIMATOR}", "95% CI", "median", "spread %", "× torch loop",
          "first epoch s", "test accuracy", "to target s", "peak MiB", "")


def _cells(row: Row) -> tuple[str, ...]:
    """The row's cells, every number through results.numbers (the reports' style)."""
    s = row.summary
    if not s:  # None: no process of the row ended ok
        return (row.id, row.status, *[""] * (len(HEADER) - 2))
    places = numbers.decimals(s.us_per_step, numbers.COLUMN_FIGURES["time"])
    ci = numbers.interval(s.us_per_step_ci_low, s.us_per_step_ci_high, places)
    spread = numbers.number(s.get("sample_spread_iqr_pct"), numbers.COLUMN_FIGURES["percent"])
    ratio = numbers.ratio(s.ratio_to_torch_loop)
    if s.ratio_ci_low is not None and row.variant != "torch-loop":
        ratio += " " + numbers.ratio_interval(s.ratio_ci_low, s.ratio_ci_high)
        if s.get("ratio_method") in ("p10-processes", "processes"):
            ratio += " by process"
    accuracy = numbers.ACCURACY_DECIMALS
    sd = numbers.fixed(s.test_accuracy_sd, accuracy)
    peak, gpu = s.peak_rss_above_baseline_bytes, s.gpu_peak_bytes
    mib = lambda value: numbers.number(None if value is None else value / 2**20,
                                       numbers.COLUMN_FIGURES["memory"])
    peak_text = mib(peak)
    if gpu is not None:
        peak_text += f" (GPU {mib(gpu)})"
    seconds = numbers.COLUMN_FIGURES["seconds"]
    first = numbers.number(s.first_epoch_s, seconds) + ("" if s.first_epoch_cold else " (warm)")
    mark = "UNSTABLE" if s.unstable else ("partial" if row.status == "partial" else "")
    return (row.id, numbers.number(s.us_per_step), ci,
            numbers.number(s.get("us_per_step_median")),  # a summary of format 2 has none
            spread, ratio, first,
            f"{numbers.fixed(s.test_accuracy_mean, accuracy)} ± {sd}",
            numbers.number(s.time_to_accuracy_s_median, seconds), peak_text, mark)


def side_by_side(run: Run) -> list[str]:
    """The table's lines for a run (results.model.Run), then the notes."""
    rows = run.rows
    table = [HEADER] + [_cells(r) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(r, widths))).rstrip() for r in table]
    lines.insert(1, "-" * len(lines[0]))
    for r in rows:
        if r.status not in ("ok", "not run") and r.reason:
            lines.append(f"{r.id} {r.status}: {r.reason.splitlines()[0]}")
        if r.summary and r.summary.unstable:
            lines.append(f"{r.id} unstable: {'; '.join(r.summary.unstable_reasons)}")
    bayes = next((r.summary.bayes_accuracy for r in rows if r.summary), None)
    if bayes is not None:
        bayes_text = numbers.fixed(bayes, numbers.ACCURACY_DECIMALS)
        lines.append(f"(Bayes accuracy of the data: {bayes_text}; "
                     f"µs/step {estimate.ESTIMATOR_TEXT}, 95% two-level bootstrap CI "
                     "(processes, then samples); median: of the same samples; spread: their "
                     "IQR/median; "
                     "× torch loop: its p10 over torch loop's, the CI resampling both rows' "
                     "processes and rounds together ('by process': rows sampled apart, "
                     "their processes paired); unstable: the CI "
                     f"reaches more than {estimate.UNSTABLE_HALF_WIDTH_PCT:g}% from the "
                     "headline; peak: resident memory above the start of train_epoch; "
                     f"{numbers.MISSING}: no value, e.g. the interval of a single sample, the SD "
                     "of one seed, a target not reached)")
    resources = run.get("resources")  # format 3
    if resources is not None and resources.get("peak_resident_total_bytes") is not None:
        lines.append(f"(memory: the run's processes held at most "
                     f"{numbers.number(resources.peak_resident_total_bytes / 2**30)} GiB "
                     f"together, resident; budget for one block's workers "
                     f"{numbers.number(resources.memory_budget_bytes / 2**30)} GiB)")
    return lines


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
