"""What a reader must know before trusting the numbers, said once in plain words with what to
do about it: a busy machine, unstable rows, partial rows and rows that were not measured.

``of`` hands the report all of them at once: the "Caveats" section (right after the
headline), its one-line form for the citation footnote ("12 rows unstable; machine busy")
and whether the run is a smoke run. The per-process
values behind them (thread waits, load) are in the appendix (reports.diagnostics).
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from reports.cells import MEASURED_STATUSES, UNSTABLE_MARK
from reports.document import Section
from results.estimate import UNSTABLE_HALF_WIDTH_PCT
from results.format import BUSY_WARNING_PREFIX
from results.model import Environment, Row, Run

TITLE = "Caveats"
WHAT_TO_DO_UNSTABLE = ("To pin them down: more samples (--processes, --rounds), a quieter "
                       "machine, or --metric instructions, which counts instructions instead "
                       "of timing and is not changed by other work.")


def busy_reasons(run: Run) -> list[str]:
    """Why the machine was busy, as the run recorded it (its warnings that say "busy", or
    the environment's reason) without ``BUSY_WARNING_PREFIX`` and without repeats; empty for a
    quiet machine."""
    # after "Busy machine:" the warning's opening would say the same thing twice
    found = [w.removeprefix(BUSY_WARNING_PREFIX) for w in run.get("warnings", []) or []
             if "busy" in w and "unstable" not in w]
    env = run.environment or Environment()
    reason = env.get("busy_reason") if env.get("busy_before") else None
    if reason and not any(reason in w for w in found):
        found.insert(0, reason)
    return list(dict.fromkeys(found))


def unstable_rows(run: Run) -> list[Row]:
    """The measured rows whose summary marks them unstable."""
    return [r for r in run.rows if r.summary and r.summary.get("unstable")]


def _starved(row: Row) -> list[int]:
    """The 1-based numbers of the row's processes that other work starved of CPU."""
    return [p.index + 1 for p in row.processes or []
            if p.get("status") == "ok" and p.get("cpu") and p.cpu.get("starved")]


def partial_rows(run: Run) -> list[Row]:
    """The rows of which some processes did not end ok (status "partial")."""
    return [r for r in run.rows if r.status == "partial"]


def _lost(row: Row) -> str:
    """"process 2 failed: its reason" for each process of ``row`` that did not end ok."""
    lost = [p for p in row.processes or [] if p.get("status") != "ok"]
    if not lost:
        return row.reason or "a process did not end"
    return "; ".join(f"process {p.index + 1} of {len(row.processes)} {p.get('status')}"
                     + (f": {p.reason.strip().splitlines()[-1]}" if p.get("reason") else "")
                     for p in lost)


def busy_item(run: Run) -> str | None:
    """The busy-machine caveat ("Busy machine: ...", with what to do), or None on a quiet
    machine (``busy_reasons``)."""
    reasons = busy_reasons(run)
    if not reasons:
        return None
    return ("Busy machine: " + "; ".join(r.rstrip(".") for r in reasons)
            + ". Other work takes CPU time from the timed rows, so their times are longer and "
              "vary more. To measure again: close other programs or use a quiet machine.")


# Where a caveat sends the reader for each process's values: an appendix of report.md,
# report.html and report.tex, but not of report-tables.tex (reports.latex says where it is).
DIAGNOSTICS_POINTER = "the Diagnostics appendix"


def unstable_item(run: Run) -> str | None:
    """The unstable rows' caveat: which rows, why their time is not pinned down (the
    interval's half-width over ``UNSTABLE_HALF_WIDTH_PCT`` percent), which were starved of
    CPU and what to do; None when no row is unstable."""
    rows = unstable_rows(run)
    if not rows:
        return None
    starved = [r.id for r in rows if _starved(r)]
    count = f"{len(rows)} row{'s are' if len(rows) > 1 else ' is'}"
    text = (f"{count} unstable, {UNSTABLE_MARK} after {'their' if len(rows) > 1 else 'its'} "
            f"time per step: {', '.join(r.id for r in rows)}. "
            f"Their 95% interval reaches more than {UNSTABLE_HALF_WIDTH_PCT:g}% from the "
            "headline time, so that time is not pinned down; compare them only where the "
            "difference is larger than their intervals.")
    if starved:
        text += (f" In {len(starved)} of them other work kept a process waiting for a CPU "
                 f"({DIAGNOSTICS_POINTER} has each process's values).")
    return f"{text} {WHAT_TO_DO_UNSTABLE}"


def partial_items(run: Run) -> list[str]:
    """One caveat per partial row: which processes were lost and why, and how to measure it
    whole."""
    return [f"{r.id} is partial: {_lost(r)}. Its numbers come from the processes that "
            f"ended; to measure it whole, run it again alone (-k {r.id})."
            for r in partial_rows(run)]


def not_measured(frame: pd.DataFrame) -> list[str]:
    """The rows that are not in the tables, one line per status and reason: "skipped, 8
    rows: a, b. Reason: ...", from ``frame`` (the run's tidy table, reports.tables.tidy).
    Plain text (escape it for the output format)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for _, r in frame[~frame["status"].isin(MEASURED_STATUSES)].iterrows():
        groups.setdefault((str(r["status"]), str(r["reason"] or "")), []).append(str(r["row"]))
    return [f"{status}, {len(rows)} row{'s' if len(rows) > 1 else ''}: " + ", ".join(rows)
            + (f". Reason: {reason}" if reason else "")
            for (status, reason), rows in groups.items()]


def section(run: Run, frame: pd.DataFrame) -> Section | None:
    """The caveats of ``run`` as one list (None when there are none): busy machine, unstable
    rows, partial rows, then the rows not measured (``not_measured`` of ``frame``, the run's
    tidy table)."""
    items = [i for i in (busy_item(run), unstable_item(run)) if i]
    items += partial_items(run) + not_measured(frame)
    if not items:
        return None
    return Section(key="caveats", title=TITLE, items=items)


def is_smoke_run(run: Run) -> bool:
    """True for a quick-preset run, whose numbers only show that every row runs."""
    return (run.plan or {}).get("preset") == "quick"


def summary(run: Run) -> str:
    """The caveats in a few words for the citation footnote, e.g. "smoke run (quick preset);
    12 rows unstable; machine busy; 1 row partial", or "" when there are none."""
    # (a run of which no row was measured says so instead: nothing ran to be a smoke test)
    measured = any(row.summary for row in run.rows)
    parts = ["smoke run (quick preset)"] if is_smoke_run(run) and measured else []
    for rows, word in ((unstable_rows(run), "unstable"), (partial_rows(run), "partial")):
        if rows:
            parts.append(f"{len(rows)} row{'s' if len(rows) > 1 else ''} {word}")
    if busy_reasons(run):
        parts.append("machine busy")
    return "; ".join(parts)


@dataclasses.dataclass(frozen=True)
class Caveats:
    """A run's caveats in each form the report shows them: ``section`` (None when there are
    none), ``summary`` for the citation footnote ("" when there are none) and ``smoke``, True
    for a quick-preset run (its numbers only show that every row runs)."""
    section: Section | None
    summary: str
    smoke: bool


def of(run: Run, frame: pd.DataFrame) -> Caveats:
    """The caveats of ``run``, whose tidy table (reports.tables.tidy) is ``frame``."""
    return Caveats(section(run, frame), summary(run), is_smoke_run(run))
