"""What a worker's timed epochs cost the machine: CPU time and cores, run-queue wait, whether
other processes starved it, and memory (the resident peak above the start of an epoch, the
GPU allocator's peak), summed over the ranks of a row with a process per replica.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from typing import TYPE_CHECKING

from benchmarks import memory
from benchmarks.results import STARVED_OTHERS_CORES, STARVED_WAIT_PER_S
from results import numbers

if TYPE_CHECKING:
    from benchmarks.timing import Epoch


def runqueue_wait_s() -> float | None:
    """Seconds this process's threads have waited, runnable, for a CPU (Linux schedstat)."""
    total = 0
    try:
        for task in os.scandir("/proc/self/task"):
            with open(os.path.join(task.path, "schedstat")) as fh:
                total += int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e9


def machine_busy_cpu_s() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (every core; psutil)."""
    try:
        import psutil

        times = psutil.cpu_times()
    except (ImportError, OSError):
        return None
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


@dataclasses.dataclass
class MemoryWindow:
    """The memory baseline taken right before training, and the GPU's peak counter."""

    gpu: memory.GpuPeak | None  # None on the CPU
    rss_baseline_bytes: int | None
    peak_is_per_phase: bool  # whether /proc/self/clear_refs resets the peak per epoch

    @classmethod
    def open(cls, framework: str, device: str) -> MemoryWindow:
        """Take the baseline and reset the peaks (RSS and, on CUDA, the framework's GPU peak)."""
        gpu = memory.GpuPeak(framework) if device == "cuda" else None
        rss_baseline = memory.rss_bytes()
        peak_is_per_phase = memory.reset_peak_rss()
        if gpu:
            gpu.reset()
        return cls(gpu, rss_baseline, peak_is_per_phase)


@dataclasses.dataclass
class CpuWindow:
    """What the CPU counters say of training (its epochs and the top-up, evaluation included)."""

    wall_s: float
    own_cpu_s: float  # this process's CPU seconds
    runqueue_wait_s: float | None  # None where Linux's schedstat is missing
    machine_busy_s: float | None  # every core's busy seconds; None without psutil


@dataclasses.dataclass
class CpuClock:
    """The CPU counters at the start of training; ``stop`` reads them again."""

    wait_start_s: float | None
    busy_start_s: float | None
    own_start_s: float
    wall_start_s: float

    @classmethod
    def start(cls) -> CpuClock:
        return cls(runqueue_wait_s(), machine_busy_cpu_s(), time.process_time(),
                   time.perf_counter())

    def stop(self) -> CpuWindow:
        wall_s = time.perf_counter() - self.wall_start_s
        wait_end, own_cpu_s = runqueue_wait_s(), time.process_time() - self.own_start_s
        busy_end = machine_busy_cpu_s()
        waited = (None if self.wait_start_s is None or wait_end is None
                  else wait_end - self.wait_start_s)
        busy = (None if self.busy_start_s is None or busy_end is None
                else busy_end - self.busy_start_s)
        return CpuWindow(wall_s, own_cpu_s, waited, busy)


@dataclasses.dataclass
class Usage:
    """A row's CPU time and memory over its timed epochs: this process's, or the sum over the
    processes of a row with a process per replica."""

    train_cpu_s: float
    timed_wall_s: float
    rss_after_import_bytes: int | None
    rss_baseline_bytes: int | None
    peak_rss_above_baseline_bytes: int | None
    gpu_peak_bytes: int | None
    runqueue_wait_s: float | None
    others_cores: float | None = None
    sibling_replicas_cpu_s: float = 0.0
    memory_processes: int = 1
    starved_reason: str | None = None

    @property
    def cores_used(self) -> float:
        return self.train_cpu_s / self.timed_wall_s


def own_usage(timed: list[Epoch], cpu: CpuWindow, window: MemoryWindow,
              rss_after_import_bytes: int | None) -> Usage:
    """This process's CPU time and memory over ``timed``: the memory of the epoch whose
    resident set grew most."""
    peaks = [e for e in timed if e.peak_rss_above_start_bytes is not None]
    worst = max(peaks, key=lambda e: e.peak_rss_above_start_bytes) if peaks else None
    return Usage(train_cpu_s=sum(e.cpu_s for e in timed),
                 timed_wall_s=sum(e.seconds for e in timed),
                 rss_after_import_bytes=rss_after_import_bytes,
                 rss_baseline_bytes=worst.rss_start_bytes if worst else window.rss_baseline_bytes,
                 peak_rss_above_baseline_bytes=worst.peak_rss_above_start_bytes if worst else None,
                 gpu_peak_bytes=window.gpu.peak_bytes() if window.gpu else None,
                 runqueue_wait_s=cpu.runqueue_wait_s)


def sum_over_ranks(usage: Usage, own_cpu_s: float, gather=None) -> Usage:
    """A row with one process per replica: its memory and CPU time summed over the processes
    (``gather``, default ``all_ranks``, collects a value from every rank in rank order). The
    row's replicas on this machine are its siblings: their CPU time is not other processes'
    for the starved test (``starved``), since a replica kept a core busy because the row
    asked it to."""
    host = socket.gethostname()
    per_rank = (gather or all_ranks)((usage.rss_after_import_bytes,
                                      usage.peak_rss_above_baseline_bytes, usage.train_cpu_s,
                                      usage.gpu_peak_bytes, host, own_cpu_s))
    return dataclasses.replace(
        usage,
        sibling_replicas_cpu_s=sum(r[5] for i, r in enumerate(per_rank)
                                   if r[4] == host and i != rank()),
        rss_after_import_bytes=_sum_or_none(r[0] for r in per_rank),
        peak_rss_above_baseline_bytes=_sum_or_none(r[1] for r in per_rank),
        train_cpu_s=sum(r[2] for r in per_rank),
        gpu_peak_bytes=(None if usage.gpu_peak_bytes is None
                        else _sum_or_none(r[3] for r in per_rank)),
        memory_processes=len(per_rank))


def starved(usage: Usage, cpu: CpuWindow) -> Usage:
    """``usage`` with the cores other processes kept busy while this one trained (the
    machine's busy CPU time less this process's own and its sibling replicas') and, when
    starved, why.

    Starved: its threads waited for a CPU, and other processes had the CPUs. A framework
    with more threads than CPUs makes its threads wait on each other too; that alone is how
    it runs, not a busy machine.
    """
    others_cores = (None if cpu.machine_busy_s is None else max(
        0.0, (cpu.machine_busy_s - cpu.own_cpu_s - usage.sibling_replicas_cpu_s) / cpu.wall_s))
    waited, reason = usage.runqueue_wait_s, None
    if (waited is not None and waited / cpu.wall_s > STARVED_WAIT_PER_S
            and (others_cores is None or others_cores > STARVED_OTHERS_CORES)):
        reason = (f"its threads waited {numbers.number(waited / cpu.wall_s, 2)} s for a CPU "
                  f"per second of training, more than {STARVED_WAIT_PER_S:g} s, while other "
                  + ("processes used the CPUs" if others_cores is None else
                     f"processes kept {numbers.number(others_cores, 2)} cores busy"))
    return dataclasses.replace(usage, others_cores=others_cores, starved_reason=reason)


def account(timed: list[Epoch], cpu: CpuWindow, window: MemoryWindow,
            rss_after_import_bytes: int | None, process_per_replica: bool) -> Usage:
    """The row's CPU time and memory over its ``timed`` epochs, and whether the machine
    starved it (``own_usage``; ``sum_over_ranks`` for a row with a process per replica;
    ``starved``)."""
    usage = own_usage(timed, cpu, window, rss_after_import_bytes)
    if process_per_replica:
        usage = sum_over_ranks(usage, cpu.own_cpu_s)
    return starved(usage, cpu)


# Where each launcher puts this process's rank: torchrun's RANK; Keras's variable for
# jax.distributed.initialize's process_id (keras.distribution.initialize passes it on, so it
# equals jax.process_index()).
RANK_VARIABLES = ("RANK", "KERAS_DISTRIBUTION_PROCESS_ID")


def rank() -> int:
    """This process's rank in its launcher's world, from the first of ``RANK_VARIABLES``
    that is set; 0 without a launcher."""
    for variable in RANK_VARIABLES:
        if os.environ.get(variable):
            return int(os.environ[variable])
    return 0


def all_ranks(value) -> list:
    """``value`` from every rank of torch's process group, in rank order (its all_gather)."""
    import torch.distributed as dist

    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def _sum_or_none(values):
    values = list(values)
    return None if any(v is None for v in values) else sum(values)
