"""What a `pytest --benchmark` run is: its rows (a variant on a device at a batch size, and
in a sweep a width or training-set size) and its Plan, with the per-variant rules that the
variant registry (frameworks/variants.py) decides: tags, data-parallel twins, threads per
process, how a row's worker starts.

Pure Python with no framework imports, so that the coordinating pytest process stays
light and these rules are tested on any machine. benchmarks/options.py makes a Plan from
the presets and the user's options.
"""

from __future__ import annotations

import dataclasses
import os

from frameworks import IMPLEMENTATIONS, versions
from frameworks.spec import SimpleNetSpec
from frameworks.variants import VARIANTS as REGISTRY
from frameworks.variants import data_parallel_of
from results import epochs

DEVICES = ("cpu", "cuda")
# SimpleNet's hidden width as the course has it (193 parameters); a row at another width
# (a --sweep hidden=... point) says so in its id.
HIDDEN_SIZE = SimpleNetSpec.hidden_size


@dataclasses.dataclass(frozen=True)
class Row:
    """One measured row: an implementation in one training mode, on one device, one batch size.

    ``hidden_size`` and ``n_train`` differ from the plan's only in a sweep's rows: the hidden
    width (default ``HIDDEN_SIZE``) and the training samples (None: the plan's ``n_train``).
    """

    implementation: str
    mode: str
    device: str
    batch_size: int
    hidden_size: int = HIDDEN_SIZE
    n_train: int | None = None

    @property
    def variant(self) -> str:
        return f"{self.implementation}-{self.mode}"

    @property
    def id(self) -> str:
        """The pytest id, e.g. ``keras-jax-fit-cpu-b32``; a sweep's point at another width or
        training-set size adds ``-h256`` or ``-n5000``, so that no two rows share an id."""
        width = "" if self.hidden_size == HIDDEN_SIZE else f"-h{self.hidden_size}"
        data = "" if self.n_train is None else f"-n{self.n_train}"
        return f"{self.variant}-{self.device}-b{self.batch_size}{width}{data}"


# The variant registry (frameworks/variants.py) says everything per variant; the tables
# below are its views, for the code that reads a table.
# variant -> (implementation, mode), in the order tables show them.
VARIANTS = {name: (v.implementation, v.mode) for name, v in REGISTRY.items()}
TAGS = {name: v.tag for name, v in REGISTRY.items()}
TUNED_NOTES = {name: v.note for name, v in REGISTRY.items() if v.tag == "tuned"}


def tag(variant: str) -> str:
    """``course``, ``idiomatic``, ``tuned`` or ``distributed``; KeyError for a variant not in
    ``VARIANTS``."""
    return TAGS[variant]


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything a run needs to know; recorded with its results."""

    variants: tuple[str, ...]
    devices: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    epochs: int
    seeds: tuple[int, ...]
    rounds: int
    n_train: int
    n_test: int
    threads: int
    worker_timeout_s: float
    target_accuracy: float | None  # None: the data's Bayes accuracy minus TARGET_GAP
    overhead_check: bool = False
    preset: str = "default"
    processes: int = 1  # worker processes per row (sets of resident workers, one per block)
    affinity: str = "auto"  # "auto", "none" or a CPU list such as "0" or "0,1"
    # ((axis, (value, ...)), ...): results.schema.SWEEP_AXES swept one at a time, each with
    # the other two at the plan's values (batch_sizes, HIDDEN_SIZE, n_train); empty: no sweep.
    sweeps: tuple[tuple[str, tuple[int, ...]], ...] = ()
    replicas: int = 2  # replicas of a data-parallel row (--replicas)
    # "time", or "instructions": the CPU rows' steps are also counted under callgrind
    # (benchmarks/cost.py), after the timed processes
    metric: str = "time"
    # Each row trains at least ``epochs`` epochs and at least this many Adam steps, so that
    # large batches, which take few steps an epoch, reach the target accuracy too
    # (results/epochs.py says why and how many); 0: exactly ``epochs``.
    min_steps: int = 0

    def epochs_for(self, row: Row) -> int:
        """The epochs each seed of ``row`` trains (results/epochs.py)."""
        return epochs.epochs_for(self.epochs, self.min_steps, row.batch_size,
                                 row.n_train or self.n_train)

    def epochs_text(self) -> str:
        """The plan's epochs in words, e.g. "12 at batch size 32, 120 at batch size 1 024
        (...)" (results.epochs.describe)."""
        counts = {(batch, self.n_train): epochs.epochs_for(self.epochs, self.min_steps, batch,
                                                           self.n_train)
                  for batch in self.batch_sizes}
        return epochs.describe(self.epochs, self.min_steps, counts)

    def seeds_for(self, index: int) -> tuple[int, ...]:
        """The seeds process ``index`` trains: spread over the processes, at least one each.

        With more processes than seeds a process repeats a seed (for its timing; the
        accuracy over seeds counts each seed once).
        """
        return self.seeds[index::self.processes] or (self.seeds[index % len(self.seeds)],)

    def cpus_for_worker(self, threads: int | None = None) -> list[int] | None:
        """The CPUs to pin each worker to (os.sched_setaffinity), or None: not pinned.

        ``auto`` pins a worker to as many CPUs as it has threads, the last ones this
        process may use (CPU 0 takes most interrupts): with fewer threads than cores the
        worker then stays on the same cores instead of migrating, which made torch-loop's
        process-to-process spread fall from a CV of 13.6% to 1.6% on a quiet machine (b32,
        6 processes); with threads == cores the mask changes nothing and all-cores stays
        what users run. On a busy machine pinning hurts (a pinned worker cannot leave a busy
        core: torch-loop b32, 1 thread, 6 processes at load 5.7 on 2 cores gave a CV of 26%
        pinned against 19% unpinned), so the plugin turns ``auto`` into ``none`` there.
        ``threads``: the worker's total when it is not ``self.threads`` (a data-parallel row
        and its single-process twin: ``total_threads``).
        """
        if self.affinity == "none":
            return None
        allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        if self.affinity == "auto":
            if allowed is None:
                return None
            return allowed[-min(threads or self.threads, len(allowed)):]
        return [int(cpu) for cpu in self.affinity.split(",")]

    def startup_cpu_slots(self, threads: int | None = None) -> list[list[int] | None]:
        """The CPU sets on which resident workers start at the same time, one worker each:
        the sampling CPUs (``cpus_for_worker``) first, then as many further sets of
        ``threads`` CPUs, from the end, as the CPUs this process may use hold, at most
        ``MAX_STARTING_WORKERS``. A worker's start (imports, build, its seeds' training) is
        most of a run's time and is not the timed steady state, so two cores start two
        workers at once; each is then moved to the sampling CPUs and timed alone there.
        Otherwise one at a time: ``[sampling CPUs]``. That is unpinned (``affinity``
        ``none``, which a busy machine makes of ``auto``: there the other cores are taken,
        and two workers compiling at once on a machine at load 8 to 13 ran a torch.compile
        row past its 180 s limit to become ready, which it met one at a time) and on CPUs
        that the user listed."""
        sampling = self.cpus_for_worker(threads)
        if self.affinity != "auto" or sampling is None:
            return [sampling]
        allowed = sorted(os.sched_getaffinity(0))
        width = len(sampling)
        count = max(1, min(MAX_STARTING_WORKERS, len(allowed) // width))
        return [allowed[len(allowed) - width * (i + 1):len(allowed) - width * i]
                for i in range(count)]

    def points(self) -> list[tuple[int, int, int | None]]:
        """(batch_size, hidden_size, n_train or None) of every block of rows, in order.

        Without sweeps: the plan's batch sizes at the course's width. A sweep's points, one
        axis at a time; a point shared by two sweeps (the batch sweep's point at the width
        sweep's batch, say) is measured once.
        """
        if not self.sweeps:
            return [(batch, HIDDEN_SIZE, None) for batch in self.batch_sizes]
        points = []
        for axis, values in self.sweeps:
            for value in values:
                if axis == "batch":
                    points.append((value, HIDDEN_SIZE, None))
                    continue
                for batch in self.batch_sizes:
                    if axis == "hidden":
                        points.append((batch, value, None))
                    else:  # n_train: the plan's own n_train needs no suffix in the id
                        points.append((batch, HIDDEN_SIZE,
                                       None if value == self.n_train else value))
        return list(dict.fromkeys(points))

    def rows(self) -> list[Row]:
        rows = []
        for device in self.devices:
            # one block per comparison: device x batch (x width x data size in a sweep)
            for batch_size, hidden_size, n_train in self.points():
                for variant in self.variants:
                    impl, mode = VARIANTS[variant]
                    if device not in IMPLEMENTATIONS[impl].devices_for(mode):
                        continue  # numpy has no GPU, CUDA graphs no CPU: rows that run nowhere
                    rows.append(Row(impl, mode, device, batch_size, hidden_size, n_train))
        return rows

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["sweeps"] = {axis: list(values) for axis, values in self.sweeps}
        return out


# Resident workers that start at once, each on CPUs of its own (Plan.startup_cpu_slots): more
# would hold more memory at once while importing and gain little on a small machine.
MAX_STARTING_WORKERS = 4

TARGET_GAP = 0.05  # default time-to-accuracy target: this far below the Bayes accuracy


# -- data parallel ---------------------------------------------------------------------------

# Each data-parallel variant and its single-process twin: the course's code in one process at
# the same global batch, given the threads of all replicas together (total_threads).
SINGLE_TWINS = {name: v.single_twin for name, v in REGISTRY.items() if v.data_parallel}
# The mode a single-process twin's row trains in: the course's loop or fit.
SINGLE_MODES = {v.mode: v.train_mode for v in REGISTRY.values() if v.train_mode != v.mode}
DISTRIBUTED_VARIANTS = tuple(name for name, v in REGISTRY.items() if v.distributed)
DISTRIBUTED_NOTES = {name: v.note for name, v in REGISTRY.items() if v.distributed}


def is_data_parallel(variant: str) -> bool:
    """True for torch-ddp, keras-jax-dp and keras-tensorflow-mirrored (not their twins)."""
    return variant in REGISTRY and REGISTRY[variant].data_parallel


def single_mode(variant: str) -> str:
    """The mode in which a data-parallel variant's single-process twin trains (loop or fit)."""
    return REGISTRY[REGISTRY[variant].single_twin].train_mode


def twin_mode(row: Row) -> str:
    """The mode the worker loads the twin in: a single-process row's is its course mode."""
    registered = REGISTRY.get(row.variant)
    return registered.train_mode if registered else row.mode


def launcher(row: Row) -> str:
    """How the row's worker starts: ``worker`` (one process) or ``torchrun`` (PyTorch's
    launcher, one worker process per replica); ``worker`` for a variant not registered."""
    registered = REGISTRY.get(row.variant)
    return registered.launcher if registered else "worker"


def threads_per_process(row: Row, plan: Plan) -> int:
    """The threads a row's framework is given in each of its processes (OMP_NUM_THREADS).

    --threads is per replica; a process that holds every replica's threads
    (``Variant.threads_of_all_replicas``: keras-tensorflow-mirrored and the single-process
    twins) gets the replicas' total.
    """
    registered = REGISTRY.get(row.variant)
    if registered and registered.threads_of_all_replicas:
        return plan.threads * plan.replicas
    return plan.threads


def total_threads(row: Row, plan: Plan) -> int:
    """Threads over all of a row's processes: equal for a data-parallel row and its twin."""
    registered = REGISTRY.get(row.variant)
    return plan.threads * plan.replicas if registered and registered.distributed else plan.threads


def known_refusal(variant: str) -> str | None:
    """Why the installed framework refuses ``variant`` (one sentence: the framework's own
    words and the version), where that is known without starting it
    (``Variant.refused_through``; frameworks.versions.known_refusal); None otherwise. A preset
    leaves such a variant out; asked for by name, its row is skipped before a worker starts
    (it would cost a worker's imports and build, 20 s and more, to hear the same)."""
    registered = REGISTRY.get(variant)
    return versions.known_refusal(registered) if registered else None


def replica_skip_reason(row: Row, plan: Plan) -> str | None:
    """Why ``row`` cannot have ``plan.replicas`` replicas here (one sentence), or None.

    A global batch smaller than the replicas leaves a replica nothing in every step. Keras's
    engines need every global batch, the last one included, to divide by the replicas: jax
    cannot shard an uneven batch (IndivisibleError) and MirroredStrategy would average the
    means of unequal slices, which is not the global mean. torch-ddp takes any split: each
    rank's loss is weighted by its share (frameworks/torch_ddp_twin.py). A single-process
    twin is skipped with its data-parallel row: it is only measured to be compared with it.
    """
    dp_variant = data_parallel_of(row.variant)
    if dp_variant:
        reason = replica_skip_reason(dataclasses.replace(row, mode=REGISTRY[dp_variant].mode),
                                     plan)
        return reason and f"its data-parallel row is skipped: {reason}"
    if not is_data_parallel(row.variant):
        return None
    n, batch = row.n_train or plan.n_train, row.batch_size
    if batch < plan.replicas:
        return (f"a global batch of {batch} cannot be split over {plan.replicas} replicas; "
                f"give --batch-size of at least {plan.replicas}")
    last = n % batch or batch
    if not REGISTRY[row.variant].uneven_batches and (batch % plan.replicas
                                                     or last % plan.replicas):
        return (f"{row.variant} needs every global batch to divide by the {plan.replicas} "
                f"replicas (Keras splits each batch evenly), but batch {batch} of {n} "
                f"samples leaves batches of {batch} and {last}; give a --batch-size and "
                f"--n-train with which every global batch, the last one (--n-train modulo "
                f"--batch-size) included, divides by {plan.replicas}")
    return None
