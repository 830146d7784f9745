"""Measure one row in a process of its own: ``python -m benchmarks.worker < job.json``.

Why a process per row: one Keras backend per process (Keras fixes it at import), no
framework's thread pool competing with another's, and memory that belongs to one
framework. The coordinator (benchmarks/runner.py) sends the job as one JSON line on stdin
and reads JSON lines back: ``progress`` events while it trains, then one ``result`` or
``skip``. A resident worker (``job["resident"]``, benchmarks/schedule.py) says ``ready``
after training and then answers each ``sample`` command on stdin with one timed epoch, until
``stop``, before its ``result``. Anything the frameworks print goes to stderr, never into
that stream.

This module is the process: its protocol, its life beside the coordinator (and torchrun's
ranks beside their launcher) and ``measure``, the pipeline of benchmarks/worker_steps.py's
steps.
"""

from __future__ import annotations

import json
import os
import sys

from benchmarks.accounting import CpuClock, MemoryWindow, account, rank
from benchmarks.timing import sample_epochs, top_up, train_seeds
from benchmarks.worker_steps import Skip, build, distributed_extras, result_fields, set_up
from frameworks import ModeUnsupported

# A job file instead of stdin: torchrun's processes cannot share one stdin (runner.py).
JOB_ENV = "SIDEBYSIDE_JOB"


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
    training = train_seeds(built, job["seeds"], built.spec.epochs, setup.slow, emit,
                           keep_first_weights=setup.variant.data_parallel)
    if not job.get("resident"):
        top_up(built.twin, training, job["plan"]["rounds"], setup.slow)
    cpu = clock.stop()
    # After the CPU accounting of training, which ran alone: while sampling, the other
    # rows' workers run between this one's epochs by design.
    sampled = sample_epochs(built.twin, training.data, training.next_epoch, setup.slow,
                            training.timed, commands, emit) if job.get("resident") else None
    usage = account(training.timed, cpu, window, setup.rss_after_import_bytes,
                    setup.variant.process_per_replica)
    distributed = distributed_extras(setup, built, training, usage)
    return result_fields(job, setup, built, training, usage, window, sampled, distributed)


def _protocol_stream():
    """Keep the real stdout for the protocol; send fd 1 (C libraries too) to stderr."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol


def die_with_launcher() -> None:
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
    coordinator like any worker: its ranks die with it in turn (``die_with_launcher``)."""
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
        die_with_launcher()
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


def exit_process(status: int) -> None:
    """Exit with ``status``; a rank of a torch-ddp row through ``exit_rank``, which skips the
    interpreter's finalisation that gloo's threads can crash (frameworks/torch_ddp_twin.py)."""
    ddp = sys.modules.get("frameworks.torch_ddp_twin")
    if ddp is not None and "LOCAL_RANK" in os.environ:
        ddp.exit_rank(status)
    sys.exit(status)


if __name__ == "__main__":
    exit_process(main())
