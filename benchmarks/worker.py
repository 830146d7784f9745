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
    FrameworkNotInstalled,
    ModeUnsupported,
    SimpleNetSpec,
    initial_weights,
    load,
    make_dataset,
)
from frameworks.backends import DeviceUnavailable, backend
from frameworks.base import check_features_labels
from frameworks.variants import VARIANTS as REGISTRY

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
    """
    row, plan = job["row"], job["plan"]
    name, device = row["implementation"], row["device"]
    impl = IMPLEMENTATIONS[name]
    framework = impl.framework
    the_row, the_plan = opts.Row(**row), opts.Plan(**_plan_fields(plan))
    row_id = the_row.id
    variant = the_row.variant
    data_parallel = opts.is_data_parallel(variant)
    replicas = the_plan.replicas
    load_before = load_now()

    try:
        impl.require()
    except FrameworkNotInstalled as err:
        raise Skip(str(err)) from None
    start = time.perf_counter()
    if data_parallel:  # before the framework starts (jax reads XLA_FLAGS once)
        backend(framework).prepare_replicas(replicas, device)
    import_framework(impl, device)
    import_s = time.perf_counter() - start
    rss_after_import = memory.rss_bytes()
    threads = apply_threads(framework, opts.threads_per_process(the_row, the_plan))
    check_device(framework, device)
    inject_fault(row_id)
    slow = slow_factor(row_id)

    seeds, epochs = job["seeds"], plan["epochs"]
    # A sweep's row sets its own width or training samples (Row); others take the plan's.
    spec = SimpleNetSpec(batch_size=row["batch_size"], epochs=epochs, seed=seeds[0],
                         hidden_size=row.get("hidden_size", HIDDEN_SIZE),
                         n_train=row.get("n_train") or plan["n_train"], n_test=plan["n_test"])
    data = make_dataset(spec)
    target = plan["target_accuracy"]
    if target is None:
        target = round(data.bayes_accuracy - plan["target_gap"], 6)

    twin_spec = planted_spec(spec, row_id)
    # Data-parallel rows are checked against their single-process twin after training
    # (weight_gap_vs_single), which is checked here in a row of its own. The check's result
    # depends on the versions and the row alone, so the row's first process makes it (a row
    # it refuses is skipped, and its later processes are not started); the others save the
    # child process and its compile.
    equivalent = None if data_parallel or job.get("index", 0) else check_equivalence(
        name, spec, twin_spec, device, opts.twin_mode(the_row))

    start = time.perf_counter()
    try:
        twin = load(name, twin_spec, device=device, mode=opts.twin_mode(the_row))
    except DeviceUnavailable as err:  # e.g. torch-ddp with fewer GPUs than processes
        raise Skip(str(err)) from None
    build_s = time.perf_counter() - start
    if data_parallel:
        # The twin joined its launcher's job (torchrun's process group, jax.distributed):
        # its engine now says how many replicas there are, on every machine of the job.
        have = twin.settings()["replicas"]
        if have != replicas:
            raise Skip(f"{variant} on {device} runs on every replica its engine shows, which "
                       f"is {have}, not --replicas {replicas}; give --replicas {have}")

    gpu = memory.GpuPeak(framework) if device == "cuda" else None
    rss_baseline = memory.rss_bytes()
    peak_is_per_phase = memory.reset_peak_rss()
    if gpu:
        gpu.reset()

    first_epoch_s, steady, curves, per_seed = None, [], [], []
    timed: list[Epoch] = []
    wait_start, others_start = runqueue_wait_s(), machine_busy_cpu_s()
    own_start, train_start = time.process_time(), time.perf_counter()
    emit("progress", stage="first epoch", seed=seeds[0], epoch=0, epochs=epochs)
    for index, seed in enumerate(seeds):
        if index:
            # Matched convention: a new seed is new data, order and initial weights; the
            # built and compiled model is reused, so only the first epoch compiles.
            seed_spec = spec.replace(seed=seed)
            data = make_dataset(seed_spec)
            twin.set_weights(initial_weights(seed_spec))
        elapsed, reached = 0.0, None
        for epoch in range(epochs):
            X, y = data.epoch_arrays(epoch)  # outside the timed (and memory) window
            result = timed_epoch(twin, X, y, slow)
            timed.append(result)
            if first_epoch_s is None:
                first_epoch_s = result.seconds
            else:
                steady.append(result.seconds)
            elapsed += result.seconds
            test_loss, accuracy = twin.evaluate(data.X_test, data.y_test)
            if reached is None and accuracy >= target:
                reached = elapsed
            curves.append({"seed": seed, "epoch": epoch + 1, "train_loss": result.loss,
                           "test_loss": test_loss, "test_accuracy": accuracy,
                           "elapsed_s": elapsed})
            emit("progress", stage="epoch", seed=seed, epoch=epoch + 1, epochs=epochs,
                 loss=result.loss, test_accuracy=accuracy, epoch_s=result.seconds)
        per_seed.append({"seed": seed, "final_loss": result.loss, "test_loss": test_loss,
                         "test_accuracy": accuracy, "time_to_accuracy_s": reached})
        if index == 0 and data_parallel:
            first_seed_weights = twin.get_weights()

    # Top up the steady-state rounds when training alone gave fewer than asked for; a
    # resident worker's samples come from the coordinator's rounds instead.
    extra = 0
    while not job.get("resident") and len(steady) < plan["rounds"]:
        X, y = data.epoch_arrays(epochs + extra)
        result = timed_epoch(twin, X, y, slow)
        timed.append(result)
        steady.append(result.seconds)
        extra += 1
    train_wall_s = time.perf_counter() - train_start
    wait_end, own_cpu_s = runqueue_wait_s(), time.process_time() - own_start
    others_end = machine_busy_cpu_s()
    siblings_cpu_s = 0.0  # a torch-ddp row's other replicas on this machine (below)
    # After the CPU accounting of training, which ran alone: while sampling, the other
    # rows' workers run between this one's epochs by design.
    samples, positions = ([], []) if not job.get("resident") else sample_epochs(
        twin, data, epochs + extra, slow, timed, commands, emit)

    train_cpu_s = sum(e.cpu_s for e in timed)
    timed_wall_s = sum(e.seconds for e in timed)
    cores_used = train_cpu_s / timed_wall_s
    waited = None if wait_start is None or wait_end is None else wait_end - wait_start
    peaks = [e for e in timed if e.peak_rss_above_start_bytes is not None]
    worst = max(peaks, key=lambda e: e.peak_rss_above_start_bytes) if peaks else None
    from threadpoolctl import threadpool_info

    distributed = None
    if opts.TAGS[variant] == "distributed":
        distributed = {"replicas": replicas if data_parallel else 1,
                       "threads_per_process": opts.threads_per_process(the_row, the_plan),
                       "total_threads": opts.total_threads(the_row, the_plan),
                       "memory_processes": 1, "max_weight_gap_vs_single": None}
    gpu_peak = gpu.peak_bytes() if gpu else None
    if REGISTRY[variant].process_per_replica:
        # One process per replica: memory and CPU time are the sum over the processes.
        per_rank = all_ranks((rss_after_import,
                              worst.peak_rss_above_start_bytes if worst else None, train_cpu_s,
                              gpu_peak, socket.gethostname(), own_cpu_s))
        # The row's own replicas are not "other processes" for the starved test below: a
        # replica on this machine kept a core busy because the row asked it to.
        siblings_cpu_s = sum(r[5] for i, r in enumerate(per_rank)
                             if r[4] == socket.gethostname() and i != rank())
        rss_after_import = _sum_or_none(r[0] for r in per_rank)
        worst_peak = _sum_or_none(r[1] for r in per_rank)
        train_cpu_s = sum(r[2] for r in per_rank)
        gpu_peak = _sum_or_none(r[3] for r in per_rank) if gpu else None
        cores_used = train_cpu_s / timed_wall_s
        distributed["memory_processes"] = len(per_rank)
    else:
        worst_peak = worst.peak_rss_above_start_bytes if worst else None
    # The cores that other processes kept busy while this one trained: the machine's busy
    # CPU time less this process's own and its sibling replicas'.
    others_cores = (None if others_start is None or others_end is None
                    else max(0.0, (others_end - others_start - own_cpu_s - siblings_cpu_s)
                             / train_wall_s))
    starved_reason = None
    # Starved: its threads waited for a CPU, and other processes had the CPUs. A framework
    # with more threads than CPUs makes its threads wait on each other too; that alone is
    # how it runs, not a busy machine.
    if (waited is not None and waited / train_wall_s > STARVED_WAIT_PER_S
            and (others_cores is None or others_cores > STARVED_OTHERS_CORES)):
        starved_reason = (f"its threads waited {waited / train_wall_s:.2f} s for a CPU per "
                          f"second of training (above {STARVED_WAIT_PER_S:g}) while other "
                          + ("processes used the CPUs" if others_cores is None else
                             f"processes kept {others_cores:.2f} cores busy"))
    if data_parallel and rank() == 0:
        # Outside every timed window: the single-process twin trained on the first seed.
        distributed["max_weight_gap_vs_single"] = weight_gap_vs_single(
            name, opts.single_mode(variant), spec.replace(seed=seeds[0]), device,
            first_seed_weights)

    return {
        "seeds": list(seeds),
        "first_epoch_s": first_epoch_s,
        "steady_epoch_s": steady,
        **({"samples_epoch_s": samples, "sample_round_position": positions}
           if job.get("resident") else {}),
        "steps_per_epoch": -(-spec.n_train // spec.batch_size),
        "batch_size": row["batch_size"],
        "effective_batch_size": min(row["batch_size"], spec.n_train),
        "n_train": spec.n_train,
        "n_test": spec.n_test,
        "hidden_size": spec.hidden_size,
        # Counted from the built model's weights, not the spec's formula.
        "n_parameters": sum(int(w.size) for w in twin.get_weights()),
        "import_s": import_s,
        "build_s": build_s,
        "per_seed": per_seed,
        "curves": curves,
        "bayes_accuracy": data.bayes_accuracy,
        "target_accuracy": target,
        "memory": {
            "rss_after_import_bytes": rss_after_import,
            "rss_baseline_bytes": worst.rss_start_bytes if worst else rss_baseline,
            "peak_rss_above_baseline_bytes": worst_peak,
            # Per epoch where /proc/self/clear_refs resets the peak; else the whole process.
            "peak_rss_scope": "train_epoch" if peak_is_per_phase else "whole process",
            "gpu_peak_bytes": gpu_peak,
            "gpu_peak_method": gpu.method if gpu else None,
        },
        "load": {"before": load_before, "after": load_now()},
        "cpu": {"train_cpu_s": train_cpu_s, "train_wall_s": timed_wall_s,
                "cores_used": cores_used, "runqueue_wait_s": waited,
                "others_cores": others_cores, "sibling_replicas_cpu_s": siblings_cpu_s,
                "starved": starved_reason is not None, "starved_reason": starved_reason},
        "threads": {"requested": plan["threads"], "measured_cores_used": cores_used,
                    "threadpools": threadpool_info(),
                    "framework_intra_op": threads.get("intra_op_threads"),
                    "framework_inter_op": threads.get("inter_op_threads")},
        "affinity": sorted(os.sched_getaffinity(0)) if job.get("cpus") is not None else None,
        "settings": {**twin.settings(), **threads, "threads_requested": plan["threads"],
                     "data": data.describe() | {"seed": seeds[0]}}
        | ({"total_threads": distributed["total_threads"]} if distributed else {}),
        "overhead": overhead_check(twin, data) if plan.get("overhead_check") else None,
        "equivalence": equivalent,
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
        # Before any framework is imported, so that every thread pool starts on these CPUs.
        os.sched_setaffinity(0, cpus)
    protocol = _protocol_stream()

    def emit(event, **fields):
        if rank() == 0:  # one voice per row: the other ranks measure alike and stay quiet
            protocol.write(json.dumps({"event": event, **fields}) + "\n")

    try:
        emit("result", **measure(job, emit, sys.stdin))
    except (Skip, ModeUnsupported) as skip:  # ModeUnsupported: the framework's own refusal
        emit("skip", reason=str(skip))
    return 0


if __name__ == "__main__":
    sys.exit(main())
