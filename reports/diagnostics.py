"""The report's appendix: what each process of a row measured and how busy the machine was
around it (per-process time, CPU used, time its threads waited for a CPU, the cores other
work kept busy). The caveats (reports.caveats) say what these values mean for the reader;
this is the evidence, for whoever wants to look. Processes are numbered from 1.
"""

from __future__ import annotations

import pandas as pd

from reports.document import Section
from results import numbers
from results.model import Environment, Run
from results.summary import STARVED_OTHERS_CORES, STARVED_WAIT_PER_S

TITLE = "Appendix: diagnostics"
CAPTION = ("Per process of each measured row: its own p10 time per step, the cores its "
           "threads used while training, how many seconds they waited for a CPU in all "
           "(run-queue wait), and the cores other processes kept busy meanwhile. Starved: "
           f"its threads waited more than {numbers.number(STARVED_WAIT_PER_S, 2)} s for a CPU "
           "per second of its training window while other processes kept more than "
           f"{numbers.number(STARVED_OTHERS_CORES, 2)} cores busy, so other work, not the "
           "framework's own threads, held the CPUs (results.json gives each starved "
           "process's wait per second in its starved_reason).")


def table(run: Run) -> pd.DataFrame:
    """One line per ok process of each measured row, as display strings."""
    records = []
    for row in run.rows:
        if not row.summary:
            continue
        ok = [p for p in row.processes or [] if p.get("status") == "ok" and p.get("cpu")]
        times = list(row.summary.get("process_us_per_step") or [])
        for i, p in enumerate(ok):
            cpu = p.get("cpu") or {}
            records.append({
                "Row": row.id, "Process": str(p.index + 1),
                "µs/step (p10)": numbers.number(times[i] if i < len(times) else None),
                "Cores used": numbers.number(cpu.get("cores_used")),
                "CPU wait s": numbers.number(cpu.get("runqueue_wait_s")),
                "Others' cores": numbers.number(cpu.get("others_cores")),
                "Starved": "yes" if cpu.get("starved") else "no"})
    return pd.DataFrame.from_records(records)


def _load_sentences(run: Run) -> list[str]:
    env = run.environment or Environment()
    out = []
    for when, key in (("before", "load_before"), ("after", "load_after")):
        load = env.get(key)
        if load and load.get("cpu_busy_pct") is not None:
            # One second's sample (benchmarks/results.load_now): said as such, with the
            # minute's load average beside it, so that a quiet second is not read as a quiet
            # machine.
            average = (f" (load average {numbers.number(load.load1, 2)} over the minute "
                       f"{when} it)" if load.get("load1") is not None else "")
            out.append(f"The machine's CPUs were {numbers.number(load.cpu_busy_pct, 2)}% busy "
                       f"in the second {when} the run{average}.")
    return out


def section(run: Run) -> Section | None:
    """The appendix, or None for a run without per-process CPU records (older files)."""
    shown = table(run)
    if not len(shown):
        return None
    notes = [f"{numbers.MISSING}: not recorded."] \
        if (shown.astype(str) == numbers.MISSING).to_numpy().any() else []
    return Section(key="diagnostics", title=TITLE, caption=CAPTION, table=shown,
                   sentences=_load_sentences(run), notes=notes)
