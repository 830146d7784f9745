"""The steps of a worker's job (benchmarks/worker.py's ``measure``), each testable alone: set
up the framework, build the twin (after the check against the numpy twin), the data-parallel
extras, and the ``Process`` record of results.json.

The timed epochs (training the seeds, the top-up, a resident worker's samples) are
benchmarks/timing.py's; their CPU and memory accounting is benchmarks/accounting.py's.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import sys
import time

from benchmarks import memory
from benchmarks.accounting import MemoryWindow, Usage, rank
from benchmarks.plan import HIDDEN_SIZE, Plan, Row, single_mode, threads_per_process, total_threads
from benchmarks.results import load_now
from benchmarks.timing import Training, overhead_check
from frameworks import (
    IMPLEMENTATIONS,
    Dataset,
    FrameworkNotInstalled,
    Implementation,
    SimpleNetSpec,
    Twin,
    load,
    make_dataset,
)
from frameworks.backends import DeviceUnavailable, backend
from frameworks.variants import VARIANTS as REGISTRY
from frameworks.variants import Variant
from results.epochs import epochs_for

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


def inject_fault(row_id: str) -> None:
    kind, _, target = os.environ.get(FAULT_ENV, "").partition(":")
    if target == row_id:
        if kind == "crash":
            raise RuntimeError(f"injected crash in {row_id} ({FAULT_ENV})")
        if kind == "hang":
            time.sleep(10**6)


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


@dataclasses.dataclass
class Setup:
    """What ``set_up`` found: the row, its plan and variant, and the framework imported and
    given its threads."""

    row: Row
    plan: Plan
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
    row, plan = Row(**job["row"]), Plan(**_plan_fields(job["plan"]))
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
    threads = apply_threads(impl.framework, threads_per_process(row, plan))
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
    n_train = row.get("n_train") or plan["n_train"]
    spec = SimpleNetSpec(batch_size=row["batch_size"], seed=seeds[0],
                         epochs=epochs_for(plan["epochs"], plan.get("min_steps", 0),
                                           row["batch_size"], n_train),
                         hidden_size=row.get("hidden_size", HIDDEN_SIZE),
                         n_train=n_train, n_test=plan["n_test"])
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
        gap = weight_gap_vs_single(row.implementation, single_mode(variant.name),
                                   built.spec, row.device, training.first_seed_weights)
    return {"replicas": plan.replicas if variant.data_parallel else 1,
            "threads_per_process": threads_per_process(row, plan),
            "total_threads": total_threads(row, plan),
            "memory_processes": usage.memory_processes, "max_weight_gap_vs_single": gap}


def weight_gap_vs_single(name: str, single_process_mode: str, spec: SimpleNetSpec, device: str,
                         dp_weights: list) -> float:
    """Largest |weight difference| between ``dp_weights`` (after ``spec.epochs`` epochs of the
    data-parallel twin on ``spec``'s seed) and the single-process twin trained the same way
    at the same global batch, from the same start, on the same batches."""
    import numpy as np

    data = make_dataset(spec)
    single = load(name, spec, device=device, mode=single_process_mode)
    for epoch in range(spec.epochs):
        single.train_epoch(*data.epoch_arrays(epoch))
    return max(float(np.max(np.abs(a - b))) for a, b in zip(dp_weights, single.get_weights()))


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


def _plan_fields(plan: dict) -> dict:
    """The Plan's own fields of the job's plan (which also carries ``target_gap``), as typed."""
    fields = {f.name for f in dataclasses.fields(Plan)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in plan.items() if k in fields}
