"""The typed model of a run's result file (docs/result_format.md): ``Run`` holds ``Row``s, a row
its ``Process``es and its ``Summary``, each with ``from_dict`` and ``to_dict``
(results.record.Record).

Modelled on pyperf's ``Run`` and ``Benchmark`` (pyperf/_bench.py): one set of objects that the
writer and every reader share, so that no reader walks the JSON on its own. A field absent
from the file is ``ABSENT``; ``Run.from_dict(d).to_dict() == d`` with the same key order, for
files of every format.

The format version is checked here once (``check_version``). A format-1 file is converted
to format 2's layout by results/format1.py before it becomes a ``Run``.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from results.format import READABLE_FORMAT_VERSIONS, RESULTS_FORMAT, RESULTS_FORMAT_VERSION
from results.record import ABSENT, Record, record_type

__all__ = ["ABSENT", "Commit", "Cost", "CostProcess", "Cpu", "CurvePoint", "Distributed",
           "Environment", "Equivalence", "Load", "Machine", "Memory", "MergedPart", "PerSeed",
           "Process", "ProcessLoad", "Record", "Resources", "Row", "Run", "Shard", "Summary",
           "UnreadableVersion", "check_version"]


class UnreadableVersion(ValueError):
    """A result file of a format version that this version of sidebyside does not read."""


def check_version(version, readable: tuple = (1, *READABLE_FORMAT_VERSIONS)) -> int:
    """``version`` when it is one of ``readable``; else UnreadableVersion, one sentence that
    names the version and what is read (the only place the version is checked)."""
    if version in readable:  # its type is the contract's (results.schema) to check
        return version
    if version is None:  # a null or missing format_version
        raise UnreadableVersion(f"the file names no result format version (this version of "
                                f"sidebyside reads 1 to {RESULTS_FORMAT_VERSION})")
    if not isinstance(version, int) or isinstance(version, bool):  # "3" reads like 3
        raise UnreadableVersion(f"result format version {version!r} is not a whole number "
                                f"(this version of sidebyside reads 1 to "
                                f"{RESULTS_FORMAT_VERSION})")
    raise UnreadableVersion(f"result format version {version!r} is not one this version of "
                            f"sidebyside reads (it reads 1 to {RESULTS_FORMAT_VERSION})")


# -- the sub-records ------------------------------------------------------------------------


@record_type
class Load(Record):
    """The machine's load: load averages, CPU pressure (percent of 10 s) and CPU busy
    percent, where sampled."""
    load1: float
    load5: float
    load15: float
    cpu_pressure_some_avg10: float | None
    cpu_busy_pct: float | None


@record_type
class Commit(Record):
    id: str | None
    dirty: bool | None


@record_type
class Environment(Record):
    """Where the run ran: the command, Python, the machine, the commit and the versions."""
    NESTED: ClassVar[dict] = {"commit": Commit, "load_before": Load, "load_after": Load}
    command: str
    python: str
    os: str
    machine: str
    cpu_model: str
    cpu_cores: int
    commit: Commit
    versions: dict
    load_before: Load | None
    load_after: Load | None
    busy_before: bool
    busy_reason: str | None


@record_type
class Memory(Record):
    """A process's memory: resident bytes after import, the baseline and the peak above it,
    and the GPU allocator's peak."""
    rss_after_import_bytes: int | None
    rss_baseline_bytes: int | None
    peak_rss_above_baseline_bytes: int | None
    peak_rss_scope: str | None
    gpu_peak_bytes: int | None
    gpu_peak_method: str | None


@record_type
class Cpu(Record):
    """A process's CPU while training: seconds, cores used, run-queue wait, starvation."""
    train_cpu_s: float
    train_wall_s: float
    cores_used: float
    runqueue_wait_s: float | None
    others_cores: float | None
    sibling_replicas_cpu_s: float | None
    starved: bool
    starved_reason: str | None


@record_type
class ProcessLoad(Record):
    NESTED: ClassVar[dict] = {"before": Load, "after": Load}
    before: Load | None
    after: Load | None


@record_type
class Distributed(Record):
    """A data-parallel row's process (or its single-process twin's): replicas and threads."""
    replicas: int
    threads_per_process: int
    total_threads: int
    memory_processes: int
    max_weight_gap_vs_single: float | None


@record_type
class Equivalence(Record):
    """The check against the numpy twin before timing (frameworks/equivalence.py)."""
    equivalent: bool
    versions: dict


@record_type
class PerSeed(Record):
    seed: int
    final_loss: float | None
    test_loss: float | None
    test_accuracy: float | None
    time_to_accuracy_s: float | None


@record_type
class CurvePoint(Record):
    seed: int
    epoch: int
    train_loss: float | None
    test_loss: float | None
    test_accuracy: float | None
    elapsed_s: float


@record_type
class Process(Record):
    """One worker process of a row: one sample of the process-level effects."""
    NESTED: ClassVar[dict] = {"per_seed": [PerSeed], "curves": [CurvePoint], "memory": Memory,
                              "load": ProcessLoad, "cpu": Cpu, "distributed": Distributed,
                              "equivalence": Equivalence}
    index: int
    status: str
    reason: str
    wall_s: float
    seeds: list
    cold_cache: bool
    first_epoch_s: float
    steady_epoch_s: list
    samples_epoch_s: list
    sample_round_position: list
    sampled_with: list
    steps_per_epoch: int
    batch_size: int
    effective_batch_size: int
    n_train: int
    n_test: int
    hidden_size: int
    n_parameters: int
    import_s: float
    build_s: float
    per_seed: list
    curves: list
    bayes_accuracy: float
    target_accuracy: float
    memory: Memory
    load: ProcessLoad | None
    cpu: Cpu | None
    threads: dict | None
    affinity: list | None
    settings: dict
    overhead: dict | None
    equivalence: Equivalence | None
    distributed: Distributed


@record_type
class Summary(Record):
    """A row's headline numbers from its ok processes (results.summary.summarize)."""
    processes_ok: int
    estimator: str
    us_per_step: float
    us_per_step_ci_low: float | None
    us_per_step_ci_high: float | None
    us_per_step_median: float
    samples: int
    sample_spread_iqr_pct: float | None
    process_us_per_step: list
    spread_iqr_pct: float | None
    unstable: bool
    unstable_reasons: list
    samples_per_s: float
    steady_epoch_s_median: float
    first_epoch_s: float
    first_epoch_cold: bool
    test_accuracy_mean: float | None
    test_accuracy_sd: float | None
    n_seeds: int
    time_to_accuracy_s_median: float | None
    time_to_accuracy_reached_seeds: int
    target_accuracy: float
    bayes_accuracy: float
    final_loss_mean: float | None
    peak_rss_above_baseline_bytes: int | None
    rss_after_import_bytes: int | None
    gpu_peak_bytes: int | None
    import_s: float
    build_s: float
    cores_used: float | None
    ratio_to_torch_loop: float | None
    ratio_ci_low: float | None
    ratio_ci_high: float | None
    ratio_method: str | None
    # a converted format-1 file's rounds
    steady_epoch_s_q1: float
    steady_epoch_s_q3: float
    # a data-parallel row's, or its single-process twin's (results.summary.replica_summary)
    replicas: int
    threads_per_process: int
    total_threads: int
    samples_per_s_ci_low: float | None
    samples_per_s_ci_high: float | None
    max_weight_gap_vs_single: float | None
    # a data-parallel row's against its twin (results.summary.scaling)
    single_row: str
    single_us_per_step: float | None
    speedup_vs_single: float | None
    speedup_ci_low: float | None
    speedup_ci_high: float | None
    scaling_efficiency: float | None
    efficiency_ci_low: float | None
    efficiency_ci_high: float | None


@record_type
class CostProcess(Record):
    """One process of a row's instruction count under callgrind (benchmarks/cost.py)."""
    index: int
    status: str
    reason: str
    wall_s: float
    steps: int
    samples: int
    instructions: float
    instructions_per_step: float
    pool_spin_instructions: float
    by_category: dict
    by_object: dict


@record_type
class Cost(Record):
    """A row's instructions per step (--metric instructions)."""
    NESTED: ClassVar[dict] = {"processes": [CostProcess]}
    metric: str
    status: str
    reason: str
    counted_steps: int
    processes: list
    instructions_per_step: float
    process_instructions_per_step: list
    spread_pct: float
    tolerance_pct: float
    not_repeatable: str
    by_category_per_step: dict


@record_type
class Machine(Record):
    """The machine that ran a row, in a run merged from parts: its part's environment."""
    part: int
    cpu_model: str
    cpu_cores: int
    machine: str
    os: str
    python: str


@record_type
class Row(Record):
    """One planned row (variant x device x sizes): its processes and its summary."""
    NESTED: ClassVar[dict] = {"machine": Machine, "processes": [Process], "summary": Summary,
                              "cost": Cost}
    id: str
    variant: str
    implementation: str
    mode: str
    device: str
    batch_size: int
    hidden_size: int
    n_train: int
    tag: str
    tuned_note: str
    status: str
    reason: str
    stderr_tail: str
    processes: list
    summary: Summary | None
    cost: Cost
    machine: Machine

    def ok_processes(self) -> list[Process]:
        """The processes whose status is ok, in the order they ran."""
        return [p for p in self.processes if p.status == "ok"]


@record_type
class Resources(Record):
    """How the resident workers were sampled and the memory they held together (format 3)."""
    memory_budget_bytes: int | None
    peak_resident_total_bytes: int | None
    memory_method: str | None
    # in the order the suite writes them (benchmarks/coordinator.py)
    sampled_together: list
    interleaving: str
    startup: str


@record_type
class Shard(Record):
    """A part of a split plan (--shard I/N)."""
    index: int
    count: int
    plan_rows: list


@record_type
class MergedPart(Record):
    """One part of a run merged from parts (reports.merge)."""
    index: int
    count: int
    path: str
    run_id: str | None
    started: str


@record_type
class Run(Record):
    """A whole result file of format 2 or 3 (a format-1 file once converted)."""
    NESTED: ClassVar[dict] = {"environment": Environment, "rows": [Row],
                              "resources": Resources, "shard": Shard,
                              "merged_from": [MergedPart]}
    format: str
    format_version: int
    converted_from_format_version: int
    started: str
    finished: str | None
    complete: bool
    interrupted_by: str | None
    plan: dict
    environment: Environment
    rows: list
    flags: list
    warnings: list
    pytest_benchmark_version: str | None
    run_id: str
    shard: Shard
    merged_from: list
    resources: Resources
    cost_wall_s: float
    # the file it was read from (results.load), not a field of the file
    path: str | None = dataclasses.field(default=None, compare=False, kw_only=True,
                                         metadata={"json": False})

    @classmethod
    def from_dict(cls, data: dict) -> Run:
        """The run of a result file's JSON ``data`` in format 2's or 3's layout. Raises
        UnreadableVersion (one sentence) for a ``format_version`` that is not read, and
        ValueError for JSON that is not a sidebyside run."""
        if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
            raise ValueError(f"not a result file of format {RESULTS_FORMAT!r}")
        check_version(data.get("format_version"), READABLE_FORMAT_VERSIONS)
        return super().from_dict(data)
