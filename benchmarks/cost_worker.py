"""The cost worker, run under valgrind by the coordinator (benchmarks/cost.py):
``valgrind --tool=callgrind ... python -m benchmarks.cost_worker < job.json``.

It imports one variant's framework once and counts each of its rows in turn: build the twin,
warm it up on the counted batches, then run the counted epoch between valgrind's client
requests (sent from Python by pytest-codspeed's compiled hooks), so that callgrind counts
that window alone and dumps it under the row's id.
"""

from __future__ import annotations

import gc
import json
import os
import sys

from benchmarks.cost import INPUT_ALIGNMENT_BYTES, describe_fixed

# "work:ROW_ID:FRACTION": the row's counted epoch also trains round(FRACTION x steps) more
# batches (at least one), still counted as the same steps: that much more work per step,
# for the tests of the cost verdict.
FAULT_ENV = "SIDEBYSIDE_INJECT_FAULT"


def extra_work_steps(row_id: str, steps: int) -> int:
    """The ``work:`` fault's extra batches for ``row_id``; 0 when none applies."""
    kind, _, rest = os.environ.get(FAULT_ENV, "").partition(":")
    target, _, fraction = rest.rpartition(":")
    if kind != "work" or target != row_id:
        return 0
    return max(1, round(float(fraction) * steps))


class Counter:
    """valgrind's callgrind client requests, from pytest-codspeed's compiled hooks: zero the
    counters and start counting; stop; dump the count under a name (``callgrind.out.N``).

    Through its module's functions rather than its ``InstrumentHooks`` class: the class also
    tells callgrind to skip libpython and the python executable (``callgrind_add_obj_skip``),
    which moves the interpreter's instructions onto its callers and would hide the
    interpreter's share. Outside valgrind (a test's fake valgrind) every call does nothing.
    """

    def __init__(self):
        from pytest_codspeed.instruments.hooks import dist_instrument_hooks as hooks

        self._hooks = hooks
        self._instance = hooks.instrument_hooks_init()
        self.on_valgrind = bool(self._instance) and bool(
            hooks.instrument_hooks_is_instrumented(self._instance))

    def start(self) -> None:
        if self.on_valgrind:  # CALLGRIND_ZERO_STATS, CALLGRIND_START_INSTRUMENTATION
            self._hooks.instrument_hooks_start_benchmark(self._instance)

    def stop_and_dump(self, name: str) -> None:
        if self.on_valgrind:  # CALLGRIND_STOP_INSTRUMENTATION, CALLGRIND_DUMP_STATS_AT(name)
            self._hooks.instrument_hooks_stop_benchmark(self._instance)
            self._hooks.instrument_hooks_set_executed_benchmark(self._instance, os.getpid(),
                                                                name.encode("ascii"))


def aligned_copy(a, alignment_bytes: int = INPUT_ALIGNMENT_BYTES):
    """A C-contiguous copy of numpy array ``a`` (same shape and dtype) whose data starts at
    a multiple of ``alignment_bytes``."""
    import numpy as np

    a = np.asarray(a)
    buffer = np.empty(a.nbytes + alignment_bytes, dtype=np.uint8)
    start = -buffer.ctypes.data % alignment_bytes
    out = buffer[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def run_jax_inline() -> None:
    """Make jax's CPU client run each computation on the thread that calls it, before the
    client exists (``jax_cpu_enable_async_dispatch``, jax's documented opt-out of CPU async
    dispatch). With dispatch asynchronous, the step's computation ran on a pool thread while
    the caller waited, and the hand-off, the waiting and the pool's search for work depended
    on timing: the same computation, counted in two processes, differed by up to 1.4 M
    instructions over jax-scan's counted epochs. The computation itself is the same."""
    import jax

    jax.config.update("jax_cpu_enable_async_dispatch", False)


def run_keras_callbacks_inline() -> None:
    """Make Keras's ``fit`` run its batch-end callbacks on the calling thread, as it does on
    TensorFlow, instead of handing each to a thread pool that it starts in every ``fit``
    call. The pool starts a new thread whenever the previous batch's callbacks have not
    finished yet, so how many threads an epoch started (and what each start cost) followed
    timing: two processes of keras-jax-fit at batch 32 differed by 0.8%, all of it one more
    thread's start. Keras keeps this choice in its backend's ``IS_THREAD_SAFE`` flag, read by
    ``CallbackList`` when ``fit`` builds it; the callbacks' own work stays counted."""
    from keras.src import backend

    backend.IS_THREAD_SAFE = False


def count_job(job: dict, write) -> None:
    """Count each row of the job in turn: build its twin, warm it up, and run the counted
    epoch between the client requests. ``write(results)`` is called after every row with
    what the coordinator records beside callgrind's counts (by row id: what was fixed and
    the twin's settings, or ``{"skip": reason}``), so a crash keeps the rows before it."""
    import numpy as np

    from benchmarks.plan import Row, twin_mode
    from benchmarks.worker_steps import apply_threads, import_framework
    from frameworks import IMPLEMENTATIONS, FrameworkNotInstalled, SimpleNetSpec, load, make_dataset
    from frameworks.base import check_features_labels

    rows = [Row(**c["row"]) for c in job["counts"]]
    impl = IMPLEMENTATIONS[rows[0].implementation]
    results = {}
    try:
        impl.require()
    except FrameworkNotInstalled as err:
        write({row.id: {"skip": str(err)} for row in rows})
        return
    counter = Counter()
    if impl.framework == "jax":
        run_jax_inline()
    import_framework(impl, "cpu")
    if impl.keras_backend:
        run_keras_callbacks_inline()
    threads = apply_threads(impl.framework, 1)
    for row, count in zip(rows, job["counts"]):
        spec = SimpleNetSpec(batch_size=row.batch_size, epochs=1, seed=job["seed"],
                             hidden_size=row.hidden_size, n_train=count["n_train"],
                             n_test=job["n_test"])
        data = make_dataset(spec)
        twin = load(row.implementation, spec, device="cpu", mode=twin_mode(row))
        X, y = data.epoch_arrays(0)
        X, y = check_features_labels(X[:count["samples"]], y[:count["samples"]], spec)
        extra = extra_work_steps(row.id, count["steps"]) * row.batch_size
        if extra:
            X, y = np.concatenate([X, X[:extra]]), np.concatenate([y, y[:extra]])
        X, y = aligned_copy(X), aligned_copy(y)
        # Warm-up on the same batches: tracing, compiling and first-call caches uncounted.
        twin.run_epoch(X, y)
        twin.synchronize()
        gc.collect()
        counter.start()
        for _ in range(count["epochs"]):
            twin.run_epoch(X, y)
        twin.synchronize()
        counter.stop_and_dump(row.id)
        results[row.id] = {"fixed": describe_fixed(), "settings": {**twin.settings(),
                                                                   **threads}}
        write(results)
        del twin


def main() -> int:
    from benchmarks.worker import die_with_launcher

    # Valgrind runs this process in place of python, so its parent is the coordinator's
    # thread that waits for it: killed with the coordinator, even by SIGKILL.
    die_with_launcher()
    job = json.load(sys.stdin)

    def write(results):
        partial = job["result_path"] + ".part"
        with open(partial, "w") as fh:
            json.dump(results, fh)
        os.replace(partial, job["result_path"])

    count_job(job, write)
    sys.stdout.flush()
    sys.stderr.flush()
    # At once: callgrind writes its file when the process ends, and a framework's exit
    # handlers (TensorFlow's, jax's) take minutes under valgrind.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
