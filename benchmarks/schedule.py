"""Which rows share their sampling rounds, in what order, and how much memory that holds.

The rows of one comparison (one device at one batch size, width and data size: a "block")
are sampled together: their workers start one after another, each trains its seeds alone,
then all stay resident and are asked in turn for one timed epoch, round after round
(``round_orders``), so that every row of the block is sampled across the same moments of the
machine. Resident workers hold their memory at the same time, so a block that would not fit
the memory budget is split into parts sampled one after another.
"""

from __future__ import annotations

import os

import numpy as np

from benchmarks.plan import TAGS, Row
from results.summary import REFERENCE_VARIANT

# A resident worker's resident set once it has trained, per implementation: rounded up from
# rss_baseline_bytes + peak_rss_above_baseline_bytes of every row of `pytest --benchmark
# --preset quick` on the 2-core development machine (Linux x86-64, CPU wheels): numpy 45 MiB,
# jax 320, torch 316 (torch.compile 435), Keras on TensorFlow 832 to 931, on jax 951, on
# torch 1,066. Only used to split a block before its workers start; the run records the total
# it measured (resources.peak_resident_total_bytes).
WORKER_RSS_BYTES = {"numpy": 100 * 2**20, "jax": 400 * 2**20, "torch": 500 * 2**20,
                    "keras-tensorflow": 1000 * 2**20, "keras-jax": 1050 * 2**20,
                    "keras-torch": 1150 * 2**20}
UNKNOWN_WORKER_RSS_BYTES = 1200 * 2**20
# A block's resident workers together stay under this (a default run stays under 8 GB with
# the coordinator: its block of 8 rows is estimated at 6.1 GiB, and the quick preset's
# figures above add up to 5.2 GiB for those rows), and
# under ``AVAILABLE_SHARE`` of the memory the machine had available when the run began.
MEMORY_BUDGET_BYTES = int(6.5 * 2**30)
AVAILABLE_SHARE = 0.8
# Said in the result file (resources), beside what they describe.
RESIDENT_TOTAL_METHOD = ("sum of the resident set (RSS, psutil) of the coordinator and every "
                         "process under it, read after each worker became ready and after "
                         "each round; shared pages count once per process (an upper bound)")
INTERLEAVING_TEXT = ("resident workers, one per row of a block, asked in turn for one timed "
                     "epoch per round, in a fresh random order every round (seeded by the "
                     "process set)")


def startup_text(slots: list[list[int] | None]) -> str:
    """How the resident workers started (resources.startup), from ``Plan.startup_cpu_slots``."""
    if len(slots) == 1:
        return "one worker at a time" + (f", on CPU {_cpus(slots[0])}" if slots[0] else "")
    return (f"{len(slots)} workers at a time, each on CPUs of its own ("
            + "; ".join(f"CPU {_cpus(s)}" for s in slots)
            + f") while it imports, builds and trains its seeds; each then moves to CPU "
            f"{_cpus(slots[0])} and is sampled there alone")


def _cpus(cpus: list[int]) -> str:
    return "+".join(str(cpu) for cpu in cpus)


def worker_rss_bytes(row: Row) -> int:
    """The resident set a worker of ``row`` is expected to hold (``WORKER_RSS_BYTES``)."""
    return WORKER_RSS_BYTES.get(row.implementation, UNKNOWN_WORKER_RSS_BYTES)


def memory_budget_bytes() -> int:
    """The most that one block's resident workers may hold together: ``MEMORY_BUDGET_BYTES``
    or ``AVAILABLE_SHARE`` of the memory available now (psutil), whichever is less."""
    import psutil

    return int(min(MEMORY_BUDGET_BYTES, AVAILABLE_SHARE * psutil.virtual_memory().available))


def is_resident(row: Row) -> bool:
    """Whether ``row`` is sampled by resident workers: all but the data-parallel rows and their
    twins, whose replicas run under their own launcher (torchrun) and are sampled per
    process, as before."""
    return TAGS[row.variant] != "distributed"


def blocks(rows: list[Row]) -> list[list[Row]]:
    """``rows`` grouped by comparison (device, batch size, width, training samples), in the
    order their first row appears."""
    grouped: dict[tuple, list[Row]] = {}
    for row in rows:
        grouped.setdefault((row.device, row.batch_size, row.hidden_size, row.n_train),
                           []).append(row)
    return list(grouped.values())


def split_block(block: list[Row], budget_bytes: int, estimate=worker_rss_bytes) -> list[list[Row]]:
    """``block`` in parts whose workers' estimated memory fits ``budget_bytes`` together.

    The rows keep their order; the reference row (torch-loop) goes into the first part, so
    that the rows sampled with it pair their samples round by round ("× torch loop"); rows
    in later parts are paired with it by process. A single row above the budget gets a part
    of its own (it cannot be split further). One part when the whole block fits.
    """
    ordered = sorted(block, key=lambda r: r.variant != REFERENCE_VARIANT)
    parts: list[list[Row]] = []
    used = 0
    for row in ordered:
        need = estimate(row)
        if parts and used + need <= budget_bytes:
            parts[-1].append(row)
            used += need
        else:
            parts.append([row])
            used = need
    return [sorted(part, key=block.index) for part in parts]


def round_orders(workers: int, rounds: int, seed: int) -> list[list[int]]:
    """The order in which ``workers`` resident workers are asked for a sample, per round.

    Every round asks each worker once, in a fresh random order (Google benchmark's
    ``--benchmark_enable_random_interleaving``, which shuffles the benchmarks in every
    repetition): a worker's place in the round (first after an idle wait, right after a
    heavy neighbour) then falls on every row alike instead of always on the same one.
    Seeded, so that a run's order can be replayed.
    """
    rng = np.random.default_rng(seed)
    return [[int(i) for i in rng.permutation(workers)] for _ in range(rounds)]


def resident_total_bytes() -> int:
    """The resident set of this process and of all its descendants (every worker, and what
    they started), summed (psutil; bytes). Pages shared between processes (the same library
    mapped by two workers) count once per process, so this is an upper bound of the memory
    in use."""
    import psutil

    me = psutil.Process(os.getpid())
    total = 0
    for member in [me] + me.children(recursive=True):
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass  # ended meanwhile
    return total
