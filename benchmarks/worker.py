"""Measure one row in a process of its own: ``python -m benchmarks.worker < job.json``.

Why a process per row: one Keras backend per process (Keras fixes it at import), no
framework's thread pool competing with another's, and memory that belongs to one
framework. The coordinator (benchmarks/runner.py) sends the job as one JSON line on stdin
and reads JSON lines back: ``progress`` events while it trains, then one ``result`` or
``skip``. A resident worker (``job["resident"]``, benchmarks/schedule.py) says ``ready``
after training and then answers each ``sample`` command on stdin with one timed epoch, until
``stop``, before its ``result``. Anything the frameworks print goes to stderr, never into
that stream.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import socket
import statistics
import sys
import time

from benchmarks import memory
from benchmarks import options as opts
from benchmarks.options import HIDDEN_SIZE
from benchmarks.results import STARVED_OTHERS_CORES, STARVED_WAIT_PER_S, load_now
from frameworks import (
    IMPLEMENTATIONS,
    Dataset,
    FrameworkNotInstalled,
    Implementation,
    ModeUnsupported,
    SimpleNetSpec,
    Twin,
    initial_weights,
    load,
    make_dataset,
)
from frameworks.backends import DeviceUnavailable, backend
from frameworks.base import check_features_labels
from frameworks.variants import VARIANTS as REGISTRY
from frameworks.variants import Variant

# A job file instead of stdin: torchrun's processes cannot share one stdin (runner.py).
JOB_ENV = "SIDEBYSIDE_JOB"

# "crash:ROW_ID", "hang:ROW_ID", "slow:ROW_ID:FACTOR" (each timed epoch of that row takes
# FACTOR times as long, inside the timed region) or "epsilon:ROW_ID:VALUE" (that row's twin
# is built with Adam's epsilon VALUE: a planted non-equivalence), for the suite's tests.
FAULT_ENV = "SIDEBYSIDE_INJECT_FAULT"


class Skip(Exception):
    """This row cannot run here; the message says why."""


def slow_factor(row_id: str) -> float:
    """The ``slow:ROW_ID:FACTOR`` fault's factor for ``row_id``; 1.0 when none applies."""
    kind, _, rest = os.environ.get(FAULT_ENV, "").partition(":")
    target, _, factor = rest.rpartition(":")
    if kind == "slow" and target == row_id:
        return max(1.0, float(factor))
    return 1.0


def planted_spec(spec: SimpleNetSpec, row_id: str) -> SimpleNetSpec:
    """The spec the row's twin is built from: ``spec``, or with the ``epsilon:`` fault's
    Adam epsilon for ``row_id`` (the numpy reference of the equivalence check keeps
    ``spec``)."""
    kind, _, rest = os.environ.get(FAULT_ENV, "").partition(":")
    target, _, value = rest.rpartition(":")
    if kind == "epsilon" and target == row_id:
        return spec.replace(adam_epsilon=float(value))
    return spec


def check_equivalence(name: str, spec: SimpleNetSpec, twin_spec: SimpleNetSpec, device: str,
                      mode: str) -> dict:
    """The twin against the numpy twin at the versions installed here, before any timing
    (frameworks/equivalence.py), in a child process with caches of its own, so that the
    timed twin's first epoch still compiles from cold; the verdict as the result's
    ``equivalence``. Skip, with the gaps, when the twin is not equivalent; Skip with the
    child's last line when the check itself failed (e.g. the device is missing)."""
    import subprocess
    import tempfile

    from frameworks import versions

    with tempfile.TemporaryDirectory(prefix="equivalence-") as folder:
        job, out = os.path.join(folder, "job.json"), os.path.join(folder, "verdict.json")
        with open(job, "w") as fh:
            json.dump({"name": name, "mode": mode, "device": device,
                       "spec": dataclasses.asdict(spec), "twin_spec": dataclasses.asdict(twin_spec),
                       "versions": versions.describe(IMPLEMENTATIONS[name].requires)}, fh)
        env = os.environ | {variable: os.path.join(folder, variable.lower()) for variable in
                            ("KERAS_HOME", "TORCHINDUCTOR_CACHE_DIR", "XDG_CACHE_HOME")}
        child = subprocess.run([sys.executable, "-P", "-m", "frameworks.equivalence", job, out],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
        if child.returncode != 0 or not os.path.exists(out):
            last = (child.stderr.strip().splitlines() or ["no output"])[-1]
            raise Skip(f"the check against the numpy twin failed before timing: {last}")
        with open(out) as fh:
            verdict = json.load(fh)
    if "cannot_run" in verdict:  # the framework's own refusal (a mode, a device)
        raise Skip(verdict["cannot_run"])
    sentence = verdict.pop("sentence")
    if not verdict["equivalent"]:
        print(sentence, file=sys.stderr)
        raise Skip(sentence)
    return verdict


@dataclasses.dataclass
class Epoch:
    """One timed epoch: wall seconds, the loss, the CPU seconds and the RSS growth inside it."""

    seconds: float
    loss: float
    cpu_s: float
    peak_rss_above_start_bytes: int | None
    rss_start_bytes: int | None


def timed_epoch(twin, X, y, slow: float = 1.0) -> Epoch:
    """One epoch's wall time, device work included: the suite's whole timed region.

    The resident-set peak is reset right before the clock starts and read right after it
    stops, so the memory window is the timed window: the data's copies into the epoch's
    order (made by the caller) and the evaluation lie outside both. ``slow`` > 1 stretches
    the timed region (the ``slow:`` fault) by a busy wait inside it: extra work on the CPU,
    as a slower implementation would do, which a machine's noise slows down too (a sleep
    would not be, and would leave the CPU to the other rows' workers). The twin's input
    checks run before both windows: they are the suite's cost, not the framework's.
    """
    X, y = check_features_labels(X, y, twin.spec)
    memory.reset_peak_rss()
    rss_start = memory.rss_bytes()
    cpu_start = time.process_time()
    twin.synchronize()
    start = time.perf_counter()
    loss = twin.run_epoch(X, y)
    twin.synchronize()
    if slow > 1.0:
        until = time.perf_counter() + (slow - 1.0) * (time.perf_counter() - start)
        while time.perf_counter() < until:
            pass
    seconds = time.perf_counter() - start
    cpu_s = time.process_time() - cpu_start
    peak = memory.peak_rss_bytes()
    above = None if peak is None or rss_start is None else max(0, peak - rss_start)
    return Epoch(seconds, loss, cpu_s, above, rss_start)


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


def import_framework(impl, device: str) -> None:
    """Import the framework itself (the twins import theirs lazily), to time and weigh it."""
    if impl.keras_backend:
        from frameworks.keras_twin import import_keras

        import_keras(impl.keras_backend, device)
    else:
        importlib.import_module(impl.framework)


def apply_threads(framework: str, threads: int) -> dict:
    """Give the framework ``threads`` intra-op and inter-op threads; return what it reports."""
    return backend(framework).apply_threads(threads)


def check_device(framework: str, device: str) -> None:
    """Skip the row when the framework cannot run on ``device`` here."""
    try:
        backend(framework).check_device(device)
    except DeviceUnavailable as err:
        raise Skip(str(err)) from None


def inject_fault(row_id: str) -> None:
    kind, _, target = os.environ.get(FAULT_ENV, "").partition(":")
    if target == row_id:
        if kind == "crash":
            raise RuntimeError(f"injected crash in {row_id} ({FAULT_ENV})")
        if kind == "hang":
            time.sleep(10**6)


def measure(job: dict, emit, commands=()) -> dict:
    """Train the job's seeds for one row in this process and return its ``Process`` fields.

    ``job`` holds ``row`` and ``plan`` (their dicts) and ``seeds``, this process's share.
    With ``job["resident"]`` the worker then stays: it emits ``ready`` and answers each
    ``{"command": "sample", "position": i}`` line of ``commands`` (the coordinator's, on
    stdin) with one timed epoch, emitted as ``sample``, until ``{"command": "stop"}`` or the
    end of ``commands`` (``sample_epochs``); without it, it tops the steady epochs up to
    ``plan["rounds"]``, as a worker sampled per process does.

    The steps, in the order they run: ``set_up`` (import, threads, device), ``build`` (data,
    equivalence check, the twin), ``MemoryWindow.open`` and ``CpuClock.start``,
    ``train_seeds``, ``top_up``, the resident worker's samples, ``account`` (CPU and memory,
    summed over the ranks of a row with a process per replica), ``distributed_extras`` and
    ``result_fields``.
    """
    setup = set_up(job)
    built = build(job, setup)
    window = MemoryWindow.open(setup.impl.framework, setup.row.device)
    clock = CpuClock.start()
    training = train_seeds(built, job["seeds"], job["plan"]["epochs"], setup.slow, emit,
                           keep_first_weights=setup.variant.data_parallel)
    if not job.get("resident"):
        top_up(built.twin, training, job["plan"]["rounds"], setup.slow)
    cpu = clock.stop()
    # After the CPU accounting of training, which ran alone: while sampling, the other
    # rows' workers run between this one's epochs by design.
    sampled = sample_epochs(built.twin, training.data, training.next_epoch, setup.slow,
                            training.timed, commands, emit) if job.get("resident") else None
    usage = account(setup, training.timed, cpu, window)
    distributed = distributed_extras(setup, built, training, usage)
    return result_fields(job, setup, built, training, usage, window, sampled, distributed)


@dataclasses.dataclass
class Setup:
    """What ``set_up`` found: the row, its plan and variant, and the framework imported and
    given its threads."""

    row: opts.Row
    plan: opts.Plan
    variant: Variant
    impl: Implementation
    import_s: float  # wall seconds to import the framework
    rss_after_import_bytes: int | None
    threads: dict  # what the framework reports of its thread pools (apply_threads)
    slow: float  # the slow: fault's factor, 1.0 without it
    load_before: dict  # the machine's load before this worker imported anything


def set_up(job: dict) -> Setup:
    """Import the row's framework and give it its threads; Skip when the framework is not
    installed or cannot run on the row's device here. Raises the injected crash (or hangs)
    of the ``crash:`` and ``hang:`` faults."""
    row, plan = opts.Row(**job["row"]), opts.Plan(**_plan_fields(job["plan"]))
    variant, impl = REGISTRY[row.variant], IMPLEMENTATIONS[row.implementation]
    load_before = load_now()
    try:
        impl.require()
    except FrameworkNotInstalled as err:
        raise Skip(str(err)) from None
    start = time.perf_counter()
    if variant.data_parallel:  # before the framework starts (jax reads XLA_FLAGS once)
        backend(impl.framework).prepare_replicas(plan.replicas, row.device)
    import_framework(impl, row.device)
    import_s = time.perf_counter() - start
    rss_after_import = memory.rss_bytes()
    threads = apply_threads(impl.framework, opts.threads_per_process(row, plan))
    check_device(impl.framework, row.device)
    inject_fault(row.id)
    return Setup(row, plan, variant, impl, import_s, rss_after_import, threads,
                 slow_factor(row.id), load_before)


@dataclasses.dataclass
class Built:
    """The row's spec, its first seed's data and target, the equivalence verdict and the
    built twin."""

    spec: SimpleNetSpec
    data: Dataset  # the first seed's
    target_accuracy: float
    equivalence: dict | None  # None: not checked in this process (see build)
    twin: Twin
    build_s: float  # wall seconds to build the twin (load())


def build(job: dict, setup: Setup) -> Built:
    """The spec (a sweep's row sets its own width or training samples, the others take the
    plan's), the first seed's data, the time-to-accuracy target, the equivalence check and
    the twin. Skip when the twin is not equivalent, the device is missing or a data-parallel
    engine shows another number of replicas than --replicas."""
    row, plan, variant = job["row"], job["plan"], setup.variant
    seeds = job["seeds"]
    spec = SimpleNetSpec(batch_size=row["batch_size"], epochs=plan["epochs"], seed=seeds[0],
                         hidden_size=row.get("hidden_size", HIDDEN_SIZE),
                         n_train=row.get("n_train") or plan["n_train"], n_test=plan["n_test"])
    data = make_dataset(spec)
    target = plan["target_accuracy"]
    if target is None:
        target = round(data.bayes_accuracy - plan["target_gap"], 6)
    name, device = setup.row.implementation, setup.row.device
    twin_spec = planted_spec(spec, setup.row.id)
    # Data-parallel rows are checked against their single-process twin after training
    # (weight_gap_vs_single), which is checked here in a row of its own. The check's result
    # depends on the versions and the row alone, so the row's first process makes it (a row
    # it refuses is skipped, and its later processes are not started); the others save the
    # child process and its compile.
    equivalent = None if variant.data_parallel or job.get("index", 0) else check_equivalence(
        name, spec, twin_spec, device, variant.train_mode)
    start = time.perf_counter()
    try:
        twin = load(name, twin_spec, device=device, mode=variant.train_mode)
    except DeviceUnavailable as err:  # e.g. torch-ddp with fewer GPUs than processes
        raise Skip(str(err)) from None
    build_s = time.perf_counter() - start
    if variant.data_parallel:
        # The twin joined its launcher's job (torchrun's process group, jax.distributed):
        # its engine now says how many replicas there are, on every machine of the job.
        have, replicas = twin.settings()["replicas"], setup.plan.replicas
        if have != replicas:
            raise Skip(f"{variant.name} on {device} runs on every replica its engine shows, "
                       f"which is {have}, not --replicas {replicas}; give --replicas {have}")
    return Built(spec, data, target, equivalent, twin, build_s)


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
class Training:
    """What training the seeds gave: the epochs' times, losses and accuracies."""

    data: Dataset  # the last seed's: the top-up and the samples go on with its epoch order
    next_epoch: int  # the index of the next epoch of ``data`` to train
    first_epoch_s: float | None = None
    steady_epoch_s: list[float] = dataclasses.field(default_factory=list)
    curves: list[dict] = dataclasses.field(default_factory=list)
    per_seed: list[dict] = dataclasses.field(default_factory=list)
    timed: list[Epoch] = dataclasses.field(default_factory=list)  # every timed epoch
    first_seed_weights: list | None = None  # kept for a data-parallel row's weight gap


def train_seeds(built: Built, seeds, epochs: int, slow: float, emit,
                keep_first_weights: bool = False) -> Training:
    """Train each seed for ``epochs`` timed epochs, evaluating after each (outside the timed
    window); the first epoch of the first seed is the one that compiles. Emits a
    ``progress`` event before training and after each epoch."""
    twin, spec, data = built.twin, built.spec, built.data
    training = Training(data, epochs)
    emit("progress", stage="first epoch", seed=seeds[0], epoch=0, epochs=epochs)
    for index, seed in enumerate(seeds):
        if index:
            # Matched convention: a new seed is new data, order and initial weights; the
            # built and compiled model is reused, so only the first epoch compiles.
            seed_spec = spec.replace(seed=seed)
            data = training.data = make_dataset(seed_spec)
            twin.set_weights(initial_weights(seed_spec))
        elapsed, reached = 0.0, None
        for epoch in range(epochs):
            X, y = data.epoch_arrays(epoch)  # outside the timed (and memory) window
            result = timed_epoch(twin, X, y, slow)
            training.timed.append(result)
            if training.first_epoch_s is None:
                training.first_epoch_s = result.seconds
            else:
                training.steady_epoch_s.append(result.seconds)
            elapsed += result.seconds
            test_loss, accuracy = twin.evaluate(data.X_test, data.y_test)
            if reached is None and accuracy >= built.target_accuracy:
                reached = elapsed
            training.curves.append({"seed": seed, "epoch": epoch + 1, "train_loss": result.loss,
                                    "test_loss": test_loss, "test_accuracy": accuracy,
                                    "elapsed_s": elapsed})
            emit("progress", stage="epoch", seed=seed, epoch=epoch + 1, epochs=epochs,
                 loss=result.loss, test_accuracy=accuracy, epoch_s=result.seconds)
        training.per_seed.append({"seed": seed, "final_loss": result.loss,
                                  "test_loss": test_loss, "test_accuracy": accuracy,
                                  "time_to_accuracy_s": reached})
        if index == 0 and keep_first_weights:
            training.first_seed_weights = twin.get_weights()
    return training


def top_up(twin, training: Training, rounds: int, slow: float) -> None:
    """Time more epochs of the last seed until training has ``rounds`` steady epochs (a
    worker sampled per process; a resident worker's samples come from the coordinator's
    rounds instead)."""
    while len(training.steady_epoch_s) < rounds:
        X, y = training.data.epoch_arrays(training.next_epoch)
        result = timed_epoch(twin, X, y, slow)
        training.timed.append(result)
        training.steady_epoch_s.append(result.seconds)
        training.next_epoch += 1


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
        reason = (f"its threads waited {waited / cpu.wall_s:.2f} s for a CPU per "
                  f"second of training (above {STARVED_WAIT_PER_S:g}) while other "
                  + ("processes used the CPUs" if others_cores is None else
                     f"processes kept {others_cores:.2f} cores busy"))
    return dataclasses.replace(usage, others_cores=others_cores, starved_reason=reason)


def account(setup: Setup, timed: list[Epoch], cpu: CpuWindow, window: MemoryWindow) -> Usage:
    """The row's CPU time and memory over its timed epochs, and whether the machine starved
    it (``own_usage``, ``sum_over_ranks`` for a row with a process per replica, ``starved``)."""
    usage = own_usage(timed, cpu, window, setup.rss_after_import_bytes)
    if setup.variant.process_per_replica:
        usage = sum_over_ranks(usage, cpu.own_cpu_s)
    return starved(usage, cpu)


def distributed_extras(setup: Setup, built: Built, training: Training,
                       usage: Usage) -> dict | None:
    """A distributed row's ``distributed`` fields (None for every other row): its replicas
    and threads, the processes its memory is summed over and, for a data-parallel row's
    rank 0, the largest weight gap to its single-process twin trained on the first seed
    (outside every timed window)."""
    if not setup.variant.distributed:
        return None
    row, plan, variant = setup.row, setup.plan, setup.variant
    gap = None
    if variant.data_parallel and rank() == 0:
        gap = weight_gap_vs_single(row.implementation, opts.single_mode(variant.name),
                                   built.spec, row.device, training.first_seed_weights)
    return {"replicas": plan.replicas if variant.data_parallel else 1,
            "threads_per_process": opts.threads_per_process(row, plan),
            "total_threads": opts.total_threads(row, plan),
            "memory_processes": usage.memory_processes, "max_weight_gap_vs_single": gap}


def result_fields(job: dict, setup: Setup, built: Built, training: Training, usage: Usage,
                  window: MemoryWindow, sampled: tuple[list[float], list[int]] | None,
                  distributed: dict | None) -> dict:
    """The process's result: the ``Process`` fields of results.json.

    One literal, in the order the fields are written, so that a reader sees the whole
    record at once; it is as long as the record.
    """
    row, plan, seeds = job["row"], job["plan"], job["seeds"]
    spec, twin, data, threads = built.spec, built.twin, training.data, setup.threads
    from threadpoolctl import threadpool_info

    return {
        "seeds": list(seeds),
        "first_epoch_s": training.first_epoch_s,
        "steady_epoch_s": training.steady_epoch_s,
        **({"samples_epoch_s": sampled[0], "sample_round_position": sampled[1]}
           if sampled is not None else {}),
        "steps_per_epoch": -(-spec.n_train // spec.batch_size),
        "batch_size": row["batch_size"],
        "effective_batch_size": min(row["batch_size"], spec.n_train),
        "n_train": spec.n_train,
        "n_test": spec.n_test,
        "hidden_size": spec.hidden_size,
        # Counted from the built model's weights, not the spec's formula.
        "n_parameters": sum(int(w.size) for w in twin.get_weights()),
        "import_s": setup.import_s,
        "build_s": built.build_s,
        "per_seed": training.per_seed,
        "curves": training.curves,
        "bayes_accuracy": data.bayes_accuracy,
        "target_accuracy": built.target_accuracy,
        "memory": {
            "rss_after_import_bytes": usage.rss_after_import_bytes,
            "rss_baseline_bytes": usage.rss_baseline_bytes,
            "peak_rss_above_baseline_bytes": usage.peak_rss_above_baseline_bytes,
            # Per epoch where /proc/self/clear_refs resets the peak; else the whole process.
            "peak_rss_scope": "train_epoch" if window.peak_is_per_phase else "whole process",
            "gpu_peak_bytes": usage.gpu_peak_bytes,
            "gpu_peak_method": window.gpu.method if window.gpu else None,
        },
        "load": {"before": setup.load_before, "after": load_now()},
        "cpu": {"train_cpu_s": usage.train_cpu_s, "train_wall_s": usage.timed_wall_s,
                "cores_used": usage.cores_used, "runqueue_wait_s": usage.runqueue_wait_s,
                "others_cores": usage.others_cores,
                "sibling_replicas_cpu_s": usage.sibling_replicas_cpu_s,
                "starved": usage.starved_reason is not None,
                "starved_reason": usage.starved_reason},
        "threads": {"requested": plan["threads"], "measured_cores_used": usage.cores_used,
                    "threadpools": threadpool_info(),
                    "framework_intra_op": threads.get("intra_op_threads"),
                    "framework_inter_op": threads.get("inter_op_threads")},
        "affinity": sorted(os.sched_getaffinity(0)) if job.get("cpus") is not None else None,
        "settings": {**twin.settings(), **threads, "threads_requested": plan["threads"],
                     "data": data.describe() | {"seed": seeds[0]}}
        | ({"total_threads": distributed["total_threads"]} if distributed else {}),
        "overhead": overhead_check(twin, data) if plan.get("overhead_check") else None,
        "equivalence": built.equivalence,
    } | ({"distributed": distributed} if distributed else {})


def sample_epochs(twin, data, first_epoch: int, slow: float, timed: list, commands,
                  emit) -> tuple[list[float], list[int]]:
    """A resident worker's samples: one timed epoch per ``sample`` command, until ``stop``.

    Each sample trains on the next epoch's batch order (epoch ``first_epoch`` onwards;
    made outside the timed window), so the model keeps training as it would; its Epoch
    joins ``timed`` (the memory and CPU accounting). Returns the epochs' seconds and the
    worker's place in each round, as the coordinator sent it.
    """
    samples, positions = [], []
    emit("ready")
    for line in commands:
        command = json.loads(line) if line.strip() else {}
        if command.get("command") != "sample":
            break
        X, y = data.epoch_arrays(first_epoch + len(samples))
        result = timed_epoch(twin, X, y, slow)
        timed.append(result)
        samples.append(result.seconds)
        positions.append(int(command.get("position", 0)))
        emit("sample", epoch_s=result.seconds)
    return samples, positions


def _plan_fields(plan: dict) -> dict:
    """The Plan's own fields of the job's plan (which also carries ``target_gap``), as typed."""
    fields = {f.name for f in dataclasses.fields(opts.Plan)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in plan.items() if k in fields}


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


def weight_gap_vs_single(name: str, single_mode: str, spec: SimpleNetSpec, device: str,
                         dp_weights: list) -> float:
    """Largest |weight difference| between ``dp_weights`` (after ``spec.epochs`` epochs of the
    data-parallel twin on ``spec``'s seed) and the single-process twin trained the same way
    at the same global batch, from the same start, on the same batches."""
    import numpy as np

    data = make_dataset(spec)
    single = load(name, spec, device=device, mode=single_mode)
    for epoch in range(spec.epochs):
        single.train_epoch(*data.epoch_arrays(epoch))
    return max(float(np.max(np.abs(a - b))) for a, b in zip(dp_weights, single.get_weights()))


def overhead_check(twin, data, epochs: int = 3, blocks: int = 7) -> dict:
    """The suite's per-epoch timing against a bare loop timed once around several epochs.

    Short blocks alternate, suite then bare, and each block pair gives one ratio of
    means; the median over the pairs is the harness's overhead with the machine's drift
    (which moves both halves of a pair alike) cancelled. ``ratio_median_to_bare`` also
    compares what the suite reports, its median, with the bare mean.
    """
    X, y = check_features_labels(*data.epoch_arrays(0), twin.spec)
    suite, pair_ratios, bare_total = [], [], 0.0
    for _ in range(blocks):
        block = [timed_epoch(twin, X, y).seconds for _ in range(epochs)]
        twin.synchronize()
        start = time.perf_counter()
        for _ in range(epochs):
            twin.run_epoch(X, y)
        twin.synchronize()
        bare = (time.perf_counter() - start) / epochs
        suite += block
        bare_total += bare * epochs
        pair_ratios.append(statistics.fmean(block) / bare)
    bare_mean = bare_total / (blocks * epochs)
    return {"ratio": statistics.median(pair_ratios), "pair_ratios": pair_ratios,
            "suite_epoch_s_mean": statistics.fmean(suite),
            "suite_epoch_s_median": statistics.median(suite),
            "bare_loop_epoch_s_mean": bare_mean,
            "ratio_median_to_bare": statistics.median(suite) / bare_mean,
            "epochs_per_block": epochs, "blocks": blocks}


def _protocol_stream():
    """Keep the real stdout for the protocol; send fd 1 (C libraries too) to stderr."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol


def _die_with_launcher() -> None:
    """torchrun starts every rank in a session of its own, out of reach of the runner's kill
    of the launcher's process group: the kernel kills this rank when its launcher dies
    (Linux's PR_SET_PDEATHSIG), so a stopped row leaves no rank behind."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the launcher died before the line above
        os._exit(1)


# The coordinator's pid, set by the runner (runner.worker_env): the parent this worker dies with.
COORDINATOR_ENV = "SIDEBYSIDE_COORDINATOR_PID"


def _die_with_coordinator() -> None:
    """The runner starts each worker in a session of its own, so a coordinator killed with
    SIGKILL (which it cannot catch) would leave its worker running: the kernel kills this
    worker when its parent dies (Linux's PR_SET_PDEATHSIG; strictly, when the parent's thread
    that started it ends, so the runner starts workers from the thread that waits for them).
    A parent that died before that call leaves this worker to another parent, so then it
    exits at once."""
    import ctypes
    import signal

    expected = os.environ.get(COORDINATOR_ENV, "")
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: the coordinator's own kill of the process group must do
    if expected.isdigit() and os.getppid() != int(expected):
        os._exit(1)


def launch_torchrun() -> None:
    """torchrun (``torch.distributed.run``, arguments from sys.argv) dying with the
    coordinator like any worker: its ranks die with it in turn (``_die_with_launcher``)."""
    import runpy

    _die_with_coordinator()
    runpy.run_module("torch.distributed.run", run_name="__main__", alter_sys=True)


def pin_all_threads(cpus: list[int]) -> None:
    """Move every thread of this process to ``cpus``. ``os.sched_setaffinity(0, ...)`` moves
    only the calling thread (Linux sched_setaffinity(2): the mask is per thread), and the
    frameworks' thread pools exist by now, so each thread id in /proc/self/task is moved."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except ProcessLookupError:
            pass  # a thread that ended meanwhile


def main() -> int:
    if COORDINATOR_ENV in os.environ and "LOCAL_RANK" not in os.environ:
        _die_with_coordinator()
    if os.environ.get(JOB_ENV):
        with open(os.environ[JOB_ENV]) as fh:
            job = json.load(fh)
    else:
        # One line: a resident worker's stdin then carries the coordinator's commands.
        job = json.loads(sys.stdin.readline())
    if "LOCAL_RANK" in os.environ:
        _die_with_launcher()
    cpus = job.get("cpus")
    if cpus is not None:
        world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        if world > 1 and len(cpus) >= world:  # each rank its own share of the row's CPUs
            local = int(os.environ["LOCAL_RANK"])
            cpus = cpus[len(cpus) * local // world:len(cpus) * (local + 1) // world]
        # Before any framework is imported, so that every thread pool starts on these CPUs
        # (or on the CPUs it starts on, beside other workers starting: resident.ResidentWorker).
        os.sched_setaffinity(0, job.get("startup_cpus") or cpus)
    protocol = _protocol_stream()

    def emit(event, **fields):
        if event == "ready" and job.get("startup_cpus") and cpus is not None:
            pin_all_threads(cpus)  # from now on it is timed, alone, on its sampling CPUs
        if rank() == 0:  # one voice per row: the other ranks measure alike and stay quiet
            protocol.write(json.dumps({"event": event, **fields}) + "\n")

    try:
        emit("result", **measure(job, emit, sys.stdin))
    except (Skip, ModeUnsupported) as skip:  # ModeUnsupported: the framework's own refusal
        emit("skip", reason=str(skip))
    return 0


if __name__ == "__main__":
    sys.exit(main())
