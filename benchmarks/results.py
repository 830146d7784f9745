"""The writer's part of the run's result file (docs/result_format.md): a planned row, a row's
status, the machine and the file's writing.

Everything that reads a run (the terminal table, `reports`, the benchmark.json export) reads
the file this module writes; a row's summary is computed once, by results.summary.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import uuid
from importlib import metadata
from pathlib import Path

from results import numbers
from results.atomic import write_text_atomic

# The format's name, version and history live in results/format.py, shared with the readers.
from results.format import RESULTS_FORMAT, RESULTS_FORMAT_VERSION, dumps  # noqa: F401
from results.model import ABSENT, Commit, Environment, Load, Row, Run, Shard

# When a process counts as "starved" is said beside the readers, who state it (the diagnostics).
from results.summary import STARVED_OTHERS_CORES, STARVED_WAIT_PER_S  # noqa: F401

# The machine is "busy" when, over the second before the run, other work kept its CPUs this
# busy (psutil.cpu_percent over all cores; a quiet machine sits near 0, one busy loop on
# 2 cores gives 50). The load average is recorded but does not decide: it trails the last
# minute, so a run started right after another (an A/A comparison) would always count as busy.
BUSY_CPU_PCT = 25.0
# ... or when some task waited for a CPU more than this share of the last 10 s
# (/proc/pressure/cpu "some avg10", percent; near 0 on a quiet machine).
BUSY_CPU_PRESSURE_PCT = 20.0


def new_row(row, plan_n_train: int | None = None) -> Row:
    """A planned row before anything ran (``row`` is a benchmarks.plan.Row), as a
    results.model.Row.

    ``n_train`` is the row's own (a sweep's point) or else ``plan_n_train``; left out when
    neither is known.
    """
    from benchmarks.plan import DISTRIBUTED_NOTES, TAGS, TUNED_NOTES

    n_train = row.n_train or plan_n_train
    return Row(id=row.id, variant=row.variant, implementation=row.implementation,
               mode=row.mode, device=row.device, batch_size=row.batch_size,
               hidden_size=row.hidden_size, n_train=ABSENT if n_train is None else n_train,
               tag=TAGS[row.variant],
               tuned_note=TUNED_NOTES.get(row.variant) or DISTRIBUTED_NOTES.get(row.variant, ""),
               status="not run", reason="the run ended before this row", stderr_tail="",
               processes=[], summary=None)


def row_status(row: Row, planned_processes: int) -> tuple[str, str]:
    """The row's status and reason from its processes (docs/result_format.md's rules)."""
    processes = row.processes
    if not processes:
        return row.status, row.reason
    ok = row.ok_processes()
    bad = [p for p in processes if p.status not in ("ok", "skipped")]
    if len(ok) == len(processes):
        missing = planned_processes - len(ok)
        return ("ok", "") if not missing else (
            "partial", f"{missing} of {planned_processes} processes not run")
    if ok:
        return "partial", (f"{len(bad)} of {len(processes)} processes failed: "
                           f"{bad[0].reason.splitlines()[0]}")
    if all(p.status == "skipped" for p in processes):
        return "skipped", processes[0].reason
    return bad[0].status, bad[0].reason


# -- the machine ------------------------------------------------------------------------------


def cpu_pressure_avg10() -> float | None:
    """/proc/pressure/cpu "some avg10": percent of the last 10 s some task waited for a CPU."""
    try:
        for line in Path("/proc/pressure/cpu").read_text().splitlines():
            if line.startswith("some"):
                return float(dict(f.split("=") for f in line.split()[1:])["avg10"])
    except (OSError, ValueError, KeyError):
        return None
    return None


def load_now(sample_s: float = 0.0) -> dict:
    """The load averages (os.getloadavg) and the CPU pressure, now; with ``sample_s`` > 0
    also how busy every CPU was over the next ``sample_s`` seconds (percent, psutil). As the
    result file holds it: results.model.Load's ``to_dict``."""
    load1, load5, load15 = os.getloadavg()
    load = Load(load1=load1, load5=load5, load15=load15,
                cpu_pressure_some_avg10=cpu_pressure_avg10())
    if sample_s > 0:
        import psutil

        load.cpu_busy_pct = psutil.cpu_percent(interval=sample_s)
    return load.to_dict()


PERCENT = numbers.COLUMN_FIGURES["percent"]


def busy_reason(load: dict, cores: int | None = None) -> str | None:
    """Why the machine counts as busy (one phrase), or None when it is quiet."""
    cores = cores or os.cpu_count() or 1
    busy = load.get("cpu_busy_pct")
    if busy is not None and busy > BUSY_CPU_PCT:
        return (f"its {cores} CPUs were {numbers.number(busy, PERCENT)}% busy in the second "
                f"before the run (above {numbers.number(BUSY_CPU_PCT, PERCENT)}%; load "
                f"average {numbers.number(load['load1'])})")
    pressure = load["cpu_pressure_some_avg10"]
    if pressure is not None and pressure > BUSY_CPU_PRESSURE_PCT:
        return (f"tasks waited for a CPU {numbers.number(pressure, PERCENT)}% of the last 10 s "
                f"(/proc/pressure/cpu, above {numbers.number(BUSY_CPU_PRESSURE_PCT, PERCENT)}%)")
    return None


def _commit() -> Commit:
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10).stdout.strip() or None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10)
        return Commit(id=sha, dirty=bool(dirty.stdout.strip()) if sha else None)
    except (OSError, subprocess.SubprocessError):
        return Commit(id=None, dirty=None)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> dict:
    found = {}
    for name in ("torch", "tensorflow", "tensorflow-cpu", "keras", "jax", "jaxlib", "optax",
                 "numpy", "scipy", "pandas", "pytest", "pytest-benchmark"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def environment(command: list[str], load_before: dict) -> Environment:
    """The run's ``environment`` section (its ``load_after`` is filled at the end);
    ``load_before``: ``load_now``'s."""
    reason = busy_reason(load_before)
    return Environment(
        command=" ".join(command), python=sys.version.split()[0], os=platform.platform(),
        machine=platform.machine(), cpu_model=_cpu_model(), cpu_cores=os.cpu_count(),
        commit=_commit(), versions=_versions(), load_before=Load.from_dict(load_before),
        load_after=None, busy_before=reason is not None, busy_reason=reason)


# -- the run ----------------------------------------------------------------------------------


def new_run(plan, rows, command: list[str], started: str, load_before: dict,
            shard=None) -> Run:
    """A run before any process ran (results.model.Run): ``plan`` (a benchmarks.plan.Plan)
    and its ``rows`` (the part that runs here, ``shard``), the ``command`` line, the
    ``started`` time (ISO 8601) and ``load_now``'s ``load_before``."""
    return Run(
        format=RESULTS_FORMAT, format_version=RESULTS_FORMAT_VERSION, started=started,
        finished=None, complete=False, interrupted_by=None, plan=plan.to_dict(),
        environment=environment(command, load_before),
        rows=[new_row(row, plan.n_train) for row in rows], flags=[], warnings=[],
        run_id=uuid.uuid4().hex,
        shard=ABSENT if shard is None else Shard.from_dict(shard.to_dict(plan)))


def closing_warnings(run: Run, default_budget_bytes: int) -> list[str]:
    """What a reader must know of a finished run before its numbers, one sentence each:
    unstable rows, rows not timed because their twin is not equivalent at the installed
    versions, and workers that held more memory together than the budget (the run's
    ``resources``, else ``default_budget_bytes``)."""
    from frameworks.equivalence import NOT_EQUIVALENT

    warnings = []
    unstable = [r.id for r in run.rows if r.summary and r.summary.unstable]
    if unstable:
        warnings.append(f"{len(unstable)} rows unstable: {', '.join(unstable)}")
    # Said with the run's warnings as well as beside the row: a twin that computes another
    # function at the installed versions is the first thing a reader must know.
    unequal = [r.id for r in run.rows if r.status == "skipped"
               and NOT_EQUIVALENT in (r.reason or "")]
    if unequal:
        warnings.append(
            f"{len(unequal)} row{'s' if len(unequal) > 1 else ''} not timed, {NOT_EQUIVALENT} "
            f"(the twin left the numpy reference; its reason says by how much): "
            f"{', '.join(unequal)}")
    resources = run.get("resources")
    peak = resources.get("peak_resident_total_bytes") if resources else None
    budget = (resources.get("memory_budget_bytes") if resources else None) or default_budget_bytes
    if (peak or 0) > budget:
        warnings.append(
            f"the workers held {peak / 2**30:.2f} GiB together at their peak, above the "
            f"budget of {budget / 2**30:.2f} GiB (benchmarks/schedule.py's WORKER_RSS_BYTES "
            "underestimates a worker here)")
    return warnings


# -- the file ---------------------------------------------------------------------------------


def write_results(path: Path, run: Run) -> Path:
    """Write ``run`` (results.model.Run) to ``path`` atomically (a reader sees the old file
    or the new one)."""
    return write_text_atomic(path, dumps(run.to_dict()))
# -- fairness flags ---------------------------------------------------------------------------

