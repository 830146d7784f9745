"""The report's "Data parallel" section: each data-parallel row beside its single-process twin.

Present only when the run has data-parallel rows. The numbers are the summary's
(results/summary.py computes them once, as the run is written): time per global step and
samples per second with their 95% intervals, the speedup over the single process at the same
global batch and total threads, the scaling efficiency and the largest weight gap from the
single process. Every function here reads the result model (results.model.Run).
"""

from __future__ import annotations

import pandas as pd

from reports.document import LatexTable, Section
from results import numbers
from results.model import ABSENT, Row, Run, Summary

TITLE = "Data parallel"
CAPTION = ("Each data-parallel row (N replicas, each a share b/N of the global batch b) "
           "beside its single-process twin: the course's code in one process at the same "
           "global batch b, given the threads of all replicas together. Times are per global "
           "step: the p10 of each process's steady epochs pooled (in a result file of an "
           "older sidebyside, the median over processes) [95% bootstrap CI]. Speedup = "
           "single-process time / data-parallel time (per process pair); efficiency = speedup "
           "/ N, the usual "
           "T_1 / (N × T_N): an efficiency of 1 is N times the single process's speed, and "
           "one of 1/N the same speed. Weight gap: the largest |weight difference| from the "
           "single process after the first seed's epochs, which float reduction order alone "
           "explains when it is near 1e-6 or below.")
HEADER = ("Row", "Replicas × threads", "µs/global step", "Samples/s", "Single-process row",
          "Its threads", "Its µs/step", "Its samples/s", "Speedup", "Efficiency",
          "Max weight gap")


def _data_parallel(variant: str) -> bool:
    from frameworks.variants import VARIANTS

    return variant in VARIANTS and VARIANTS[variant].data_parallel


def _measured(row: Row) -> bool:
    return bool(row.summary) and row.summary.speedup_vs_single is not ABSENT


def has_section(run: Run) -> bool:
    """Whether the run has a data-parallel row (measured or not): then the section appears."""
    return any(_data_parallel(row.variant) for row in run.rows)


def _number(value, spec: str) -> str:
    """``value`` in the one number style (results.numbers); ``spec`` "d" for a count, "e"
    ones in scientific notation (a weight gap spans orders of magnitude)."""
    if numbers.is_missing(value):
        return numbers.MISSING
    if spec == "d":
        return numbers.grouped(value, 0)
    return format(value, spec) if spec.endswith("e") else numbers.number(value)


def _with_ci(value, low, high, spec: str) -> str:
    """A value and its interval in the one number style: a time's interval at the time's
    decimals; a rate (".0f": samples/s) and a ratio (".2f": speedup, efficiency) each end
    to its own three figures, like every rate and ratio of the reports (results.numbers)."""
    if spec == ".0f":
        if numbers.is_missing(value) or numbers.is_missing(low) or numbers.is_missing(high):
            return numbers.rate(value)
        return f"{numbers.rate(value)} [{numbers.rate(low)}, {numbers.rate(high)}]"
    if spec == ".2f":
        text = numbers.number(value)
        interval = numbers.ratio_interval(low, high)
        return text if numbers.MISSING in (text, interval) else f"{text} {interval}"
    return numbers.with_interval(value, low, high)


def table(run: Run) -> pd.DataFrame:
    """One line per data-parallel row (columns ``HEADER``); a row that did not run says why.

    A measured row's twin is the one its summary names (``single_row``: paired by device,
    global batch, width and training samples when the run was written)."""
    by_id = {r.id: r for r in run.rows}
    lines = []
    for row in run.rows:
        if not _data_parallel(row.variant):
            continue
        if not _measured(row):
            why = row.reason.splitlines()[0] if row.get("reason") else "no process ok"
            lines.append([row.id, f"{row.status}: {why}"] + ["—"] * (len(HEADER) - 2))
            continue
        s = row.summary
        single = by_id.get(s.single_row)
        t = single.summary if single is not None and single.summary else Summary()
        lines.append([
            row.id, f"{s.replicas} × {s.total_threads // s.replicas}",
            _with_ci(s.us_per_step, s.us_per_step_ci_low, s.us_per_step_ci_high, ".1f"),
            _with_ci(s.samples_per_s, s.samples_per_s_ci_low, s.samples_per_s_ci_high, ".0f"),
            s.single_row, _number(t.get("total_threads"), "d"),
            _with_ci(t.get("us_per_step"), t.get("us_per_step_ci_low"),
                     t.get("us_per_step_ci_high"), ".1f"),
            _with_ci(t.get("samples_per_s"), t.get("samples_per_s_ci_low"),
                     t.get("samples_per_s_ci_high"), ".0f"),
            _with_ci(s.speedup_vs_single, s.speedup_ci_low, s.speedup_ci_high, ".2f"),
            _with_ci(s.scaling_efficiency, s.efficiency_ci_low, s.efficiency_ci_high, ".2f"),
            _number(s.max_weight_gap_vs_single, ".1e")])
    return pd.DataFrame(lines, columns=HEADER)


def latex_table(table_: pd.DataFrame) -> pd.DataFrame:
    """``table``'s lines narrowed for a LaTeX page: the twin's name (the row's id with
    "-single") and the samples per second (n / time) left out, each interval in a "95% CI"
    column that ``latex.to_latex`` sets under its number."""
    def split(cell: str) -> tuple[str, str]:
        value, _, interval = cell.partition(" [")
        return value, "[" + interval if interval else numbers.MISSING

    records = []
    for line in table_.itertuples(index=False):
        cells = dict(zip(HEADER, line))
        if cells["µs/global step"] == "—":  # did not run: the reason in the second column
            records.append({"Row": f"{cells['Row']} ({cells['Replicas × threads']})"})
            continue
        record = {"Row": cells["Row"],
                  "Replicas × threads (twin's threads)":
                      f"{cells['Replicas × threads']} ({cells['Its threads']})"}
        for name, column in (("µs/global step", "µs/global step"),
                             ("Twin's µs/step", "Its µs/step"), ("Speedup", "Speedup"),
                             ("Efficiency", "Efficiency")):
            record[name], record[f"95% CI ({name})"] = split(cells[column])
        record["Max weight gap"] = cells["Max weight gap"]
        records.append(record)
    return pd.DataFrame.from_records(records).fillna("—")


def speedup_verdict(summary: Summary) -> str:
    """"slower", "faster" or "inconclusive": slower (faster) only when the speedup's whole 95%
    interval lies below (above) 1; with no interval (one process) the point estimate decides
    and the sentence says there is no interval."""
    low, high = summary.get("speedup_ci_low"), summary.get("speedup_ci_high")
    point = summary.speedup_vs_single
    if low is None or high is None:
        return "slower" if point < 1 else "faster"
    return "slower" if high < 1 else "faster" if low > 1 else "inconclusive"


def verdicts(run: Run) -> list[str]:
    """Plain sentences: on which device data parallelism was slower or faster than one
    process with the same threads, judged on the speedup's interval (the rows are shown
    either way, never hidden); and a warning where the efficiency exceeds 1, which N
    replicas cannot reach unless the single-process twin was slowed."""
    cores = run.environment.get("cpu_cores") if run.environment else None
    out = []
    for device in ("cpu", "cuda"):
        rows = [r for r in run.rows if r.device == device
                and _data_parallel(r.variant) and _measured(r)
                and r.summary.speedup_vs_single is not None]
        if not rows:
            continue
        called = {kind: [r.id for r in rows if speedup_verdict(r.summary) == kind]
                  for kind in ("slower", "faster", "inconclusive")}
        no_interval = [r.id for r in rows if r.summary.get("speedup_ci_low") is None]
        where = (f"On this machine's {cores} CPU cores" if device == "cpu" and cores
                 else f"On {device}")
        if called["slower"]:
            out.append(f"{where}, data parallelism is slower than one process given the same "
                       f"threads: {', '.join(called['slower'])} (speedup below 1). The "
                       f"replicas share SimpleNet's small steps but exchange the gradients "
                       f"after every one of them.")
        if called["faster"]:
            out.append(f"{where}, data parallelism is faster than one process given the same "
                       f"threads: {', '.join(called['faster'])} (speedup above 1).")
        if called["inconclusive"]:
            out.append(f"{where}, the speedup's 95% interval includes 1, so neither faster "
                       f"nor slower can be said: {', '.join(called['inconclusive'])}.")
        if no_interval:
            out.append(f"One process per row gives no interval, so these verdicts rest on one "
                       f"measurement each: {', '.join(no_interval)} (give --processes 3 or "
                       f"more).")
        superlinear = [r.id for r in rows if (r.summary.get("scaling_efficiency") or 0) > 1]
        if superlinear:
            out.append(f"Efficiency above 1 ({', '.join(superlinear)}) means more than N times "
                       f"the single process's speed from N replicas, which the replicas cannot "
                       f"give by themselves: the single-process twin was slowed (its threads "
                       f"competing on a busy machine, say); check the rows' stability flags "
                       f"before citing it.")
    return out


def section(run: Run) -> Section | None:
    """The report's Data parallel section (its table, and the verdicts before it), or None
    when the run has no data-parallel row."""
    if not has_section(run):
        return None
    lines = table(run)
    return Section(key="data_parallel", title=TITLE, caption=CAPTION, table=lines,
                   verdicts=verdicts(run), latex=[LatexTable(latex_table(lines))])
