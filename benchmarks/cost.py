"""The cost of a training step in instructions, counted by valgrind's callgrind.

Wall time on a shared machine moves by 2x from one try to the next (README, "The cost
metric"); the number of instructions a step executes does not. ``pytest --benchmark
--metric instructions`` therefore also runs each CPU row's step under callgrind
(``valgrind --tool=callgrind --instr-atstart=no``), with counting switched on only around
the counted epoch through valgrind's client requests, sent from Python by pytest-codspeed's
compiled hooks. It records instructions per training step, split by the shared object that
executed them (interpreter, framework runtime, math kernels, JIT-compiled code, system
libraries), as rustc-perf, CodSpeed and iai-callgrind do for their benchmarks.

This module is the coordinator's side: the cost processes run (``run_cost_pass``,
``run_cost_process``) and a row's counts summarised (``summarize_cost``).
benchmarks/cost_worker.py is the worker that runs under valgrind, benchmarks/callgrind.py
reads callgrind's output.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

from benchmarks.callgrind import count_fields, dumps_by_trigger
from results.model import Cost, CostProcess

INSTALL_HINT = ("--metric instructions needs valgrind, which is not installed here: install "
                "it with `apt-get install valgrind` (Debian, Ubuntu); the time rows run without it")
HOOKS_HINT = ("--metric instructions needs pytest-codspeed (valgrind's client requests from "
              "Python), which is not installed here: `pip install pytest-codspeed==5.0.4` "
              "(part of the cpu extra); the time rows run without it")
VALGRIND_ENV = "SIDEBYSIDE_VALGRIND"  # the valgrind to run; the tests point it at a fake one

# Steps counted per process, at most (fewer when the training set holds fewer whole batches).
# Instructions grow linearly in steps (one batch more in 50 adds 2.0% to torch-loop's and
# numpy-loop's count: README, "The cost metric"), and callgrind runs a step 20 to 50 times
# slower than natively, so a short counted epoch keeps the cost run of the default variants
# near ten minutes here.
# Fifty: a 2% change of work is then exactly one step's worth, which the "work:" fault uses.
COUNTED_STEPS = 50
# Epochs counted per process, by variant (1 for the others): the counted epoch over again,
# in the same window. jax-scan runs its whole epoch as one call of 58 k instructions a step
# at batch 32 (the smallest step here, 2.9 M an epoch), and the allocator's work in that call
# varied by 5 k to 20 k instructions between processes, whatever was fixed: 0.52% of one
# epoch at batch 32 and 0.44% at batch 1024 (nine steps) between two cost runs of the default
# variants. Eight epochs spread that over eight times the work, for a few seconds under
# valgrind.
COUNTED_EPOCHS = {"jax-scan": 8}

# Cost processes per variant: one. A process under valgrind takes 1.5 to 4 minutes here (Keras
# on TensorFlow the longest, its import alone), so two would double the cost run of the
# default variants (11 minutes here at a load of 8 to 13); the repeatability that a second
# process would show is measured once instead (FAMILY_TOLERANCE_PCT). Two at a time, since a
# count does not depend on what else runs.
COST_PROCESSES = 1
PARALLEL_COST_WORKERS = 2
# A cost process's time limit at least (or the plan's worker timeout when longer): a worker
# under valgrind runs 20 to 50 times slower, Keras's fit on TensorFlow the slowest.
COST_TIMEOUT_S = 1800.0

# What the cost worker fixes so that the count repeats: the hash seed (dict and set order,
# hence the interpreter's path), one thread per pool, and thread pools that sleep at once
# instead of spinning (a spinning OpenMP or Eigen thread would add instructions that depend
# on timing). The environment part is set before the interpreter starts.
# glibc's allocator, too (mallopt(3)'s environment variables): one arena for every thread,
# and a fixed mmap threshold, which glibc otherwise raises as the process frees large
# blocks, so that malloc's own work depends less on which thread allocated and freed first
# (two processes of jax-scan at batch 32 differed by 0.66%, nearly all in malloc and free;
# with these two set, 0.18%).
DETERMINISM_ENV = {
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
    "OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0", "GOMP_SPINCOUNT": "0",
    "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
    "MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_THRESHOLD_": "131072",
}
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false"

# The byte boundary the counted epoch's inputs start at. XLA's CPU client uses a host array
# in place only when it starts at a 64-byte boundary, and copies it otherwise (measured with
# jaxlib 0.10.2: offsets 16, 32 and 48 copied, 0, 64 and 128 did not); numpy's arrays come
# from malloc at 16-byte boundaries, so whether jax-scan's epoch copied its labels (37 k
# instructions at batch 1024) depended on where malloc put them, which differed between
# processes. Batches sliced from an aligned epoch stay aligned at batch 32 and 1024 (a row
# is 40 bytes, a label 4).
INPUT_ALIGNMENT_BYTES = 64

# A repeat tolerance per row family when its own processes cannot say more: about 1.5 times
# the largest difference measured between two cost processes of the family's rows, at least
# 0.5%. Measured on the 2-core development machine, two cost passes of the default variants
# at batch 32 and 1024 (README, "The cost metric", with the commands): numpy, torch and
# keras-torch within 0.09%, Keras on TensorFlow within 0.22%, Keras on jax within 0.19%,
# jax-scan 0.46% (batch 1024). `compare` uses the larger of this and the spread both runs show.
FAMILY_TOLERANCE_PCT = {"numpy": 0.5, "torch": 0.5, "keras-torch": 0.5,
                        "keras-tensorflow": 0.5, "jax": 0.7, "keras-jax": 0.5}
DEFAULT_TOLERANCE_PCT = 0.7  # a family not measured yet: the widest measured
# Variants whose count does not repeat, with what was measured: `compare` judges them on
# time (tolerance_pct null). None since jax's computations and Keras's callbacks run on the
# calling thread (keras-jax-fit at batch 1024 had moved by up to 38% before).
NOT_REPEATABLE: dict[str, str] = {}


def valgrind_path() -> str | None:
    """The valgrind to run (``SIDEBYSIDE_VALGRIND``, else the one on PATH), or None."""
    return os.environ.get(VALGRIND_ENV) or shutil.which("valgrind")


def missing_requirement() -> str | None:
    """One sentence saying how to get what ``--metric instructions`` needs and this machine
    lacks (valgrind, pytest-codspeed), or None when it has both."""
    import importlib.util

    if valgrind_path() is None:
        return INSTALL_HINT
    if importlib.util.find_spec("pytest_codspeed") is None:
        return HOOKS_HINT
    return None


def valgrind_version(valgrind: str) -> str | None:
    try:
        out = subprocess.run([valgrind, "--version"], capture_output=True, text=True,
                             timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def not_applicable_reason(row) -> str | None:
    """Why the instruction count does not apply to ``row`` (a ``benchmarks.plan.Row``), or
    None when it does."""
    from benchmarks.plan import TAGS

    if row.device != "cpu":
        return (f"the instructions metric does not apply on {row.device}: callgrind counts "
                "CPU instructions, not the GPU's work")
    if TAGS[row.variant] == "distributed":
        return ("the instructions metric does not apply to data-parallel rows and their twins: "
                "their work is spread over several processes")
    return None


def counted_steps(batch_size: int, n_train: int, steps: int = COUNTED_STEPS) -> tuple[int, int]:
    """(steps, samples) of the counted epoch: at most ``steps`` whole batches of the training
    set; a training set smaller than one batch is one step of all of it."""
    if n_train <= batch_size:
        return 1, n_train
    whole = min(steps, n_train // batch_size)
    return whole, whole * batch_size


def cost_env(base_env: dict) -> dict:
    """The cost worker's environment: ``base_env`` (the time worker's, runner.worker_env) with
    DETERMINISM_ENV and XLA's one-thread flag."""
    env = dict(base_env) | DETERMINISM_ENV
    flags = env.get("XLA_FLAGS", "")
    if XLA_ONE_THREAD not in flags:
        env["XLA_FLAGS"] = f"{flags} {XLA_ONE_THREAD}".strip()
    return env


def valgrind_command(valgrind: str, out_file: str) -> list[str]:
    """valgrind's command line around the cost worker."""
    return [valgrind, "--tool=callgrind", "--instr-atstart=no",
            f"--callgrind-out-file={out_file}", sys.executable, "-P", "-m",
            "benchmarks.cost_worker"]


def run_cost_process(rows, plan, index: int, valgrind: str, scratch: str,
                     timeout_s: float, live: set | None = None) -> dict[str, dict]:
    """Run one cost process for ``rows`` (one variant's rows: the framework is imported once
    and each row counted in turn) under valgrind; return each row id's ``CostProcess`` record
    (docs/result_format.md). Never raises for the worker's sake: a failure is recorded, and
    the rows counted before it keep their counts. ``live`` holds the process while it runs
    (for the caller to kill on Ctrl-C)."""
    from benchmarks.runner import STDERR_TAIL_CHARS, worker_env

    os.makedirs(os.path.join(scratch, "tmp"), exist_ok=True)
    out_file = os.path.join(scratch, "callgrind.out")
    job = cost_job(rows, plan, os.path.join(scratch, "cost-result.json"))
    env = cost_env(worker_env(rows[0], plan, scratch, os.path.join(scratch, "cache")))
    started = time.perf_counter()
    timed_out = False
    with open(os.path.join(scratch, "stderr"), "w+") as stderr:
        proc = subprocess.Popen(valgrind_command(valgrind, out_file), stdin=subprocess.PIPE,
                                stdout=stderr, stderr=stderr, text=True, cwd=scratch, env=env,
                                start_new_session=True)
        if live is not None:
            live.add(proc)
        try:
            proc.communicate(json.dumps(job), timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(proc)
            if live is not None:
                live.discard(proc)
        wall_s = time.perf_counter() - started
        stderr.seek(0)
        tail = stderr.read()[-STDERR_TAIL_CHARS:].strip()
    ended = ("timeout" if timed_out else proc.returncode, timeout_s, tail)
    return cost_records(rows, job, index, wall_s, ended, dumps_by_trigger(out_file))


def cost_job(rows, plan, result_path: str) -> dict:
    """The cost worker's job (benchmarks/cost_worker.py): per row its counted steps and
    samples; the worker writes what it records beside the counts to ``result_path``."""
    counts = []
    for row in rows:
        steps, samples = counted_steps(row.batch_size, row.n_train or plan.n_train)
        counts.append({"id": row.id, "row": dataclasses.asdict(row),
                       "n_train": row.n_train or plan.n_train,
                       "steps": steps, "samples": samples, "epochs": counted_epochs(row)})
    return {"counts": counts, "n_test": plan.n_test, "seed": plan.seeds[0],
            "result_path": result_path}


def cost_records(rows, job: dict, index: int, wall_s: float, ended: tuple,
                 dumps: dict) -> dict[str, dict]:
    """Each row id's ``CostProcess`` record of process ``index`` that ran ``job``: its count
    from ``dumps`` (callgrind.dumps_by_trigger) where the worker reached it, else why not.
    ``ended``: ("timeout" or the exit status, the time limit in seconds, stderr's tail)."""
    from benchmarks.failure import telling_line

    status, timeout_s, tail = ended
    try:
        with open(job["result_path"]) as fh:
            results = json.load(fh)
    except (OSError, ValueError):
        results = {}
    records = {}
    for row, count in zip(rows, job["counts"]):
        steps = count["steps"] * count["epochs"]
        record = records[row.id] = {"index": index, "status": "failed", "reason": "",
                                    "wall_s": wall_s,  # the whole process's, for its rows
                                    "steps": steps, "samples": count["samples"]}
        result = results.get(row.id)
        if result is None and status == "timeout":
            record.update(status="timeout", reason=f"the cost worker exceeded its time "
                                                   f"limit of {timeout_s:g} s")
        elif result is None:
            why = telling_line(tail) if tail else "no output"
            record.update(reason=f"valgrind could not run this row (exit status {status}): "
                                 f"{why}", stderr_tail=tail)
        elif result.get("skip"):
            record.update(status="skipped", reason=result["skip"])
        else:
            record.update(count_fields(dumps.get(row.id), steps))
            if record["status"] == "ok":
                record.update(fixed=result["fixed"], settings=result.get("settings", {}))
    return records


def run_cost_pass(rows, plan, scratch_root: str, on_cost=None,
                  processes: int = COST_PROCESSES, workers: int = PARALLEL_COST_WORKERS,
                  valgrind: str | None = None) -> dict[str, Cost]:
    """Count every row of ``rows`` in ``processes`` cost processes, ``workers`` at a time.

    Returns each row id's results.model.Cost; a row the metric does not apply to gets one
    with status "not applicable" and the reason. ``on_cost(row, cost, process)`` hears each
    finished process (a Cost and its CostProcess), in this thread, with the row's updated.
    Two at a time by default: a count does not depend on what else runs, so both cores may
    work. Ctrl-C (KeyboardInterrupt) kills the cost workers running and passes through.
    """
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    valgrind = valgrind or valgrind_path()
    version = valgrind_version(valgrind) if valgrind else None
    costs, groups = {}, {}
    for row in rows:
        reason = not_applicable_reason(row)
        costs[row.id] = new_cost(row, plan, version)
        if reason:
            costs[row.id].update(status="not applicable", reason=reason)
        else:
            # One process per variant (and size, in a sweep) counts all its batch sizes:
            # under valgrind a framework's import costs more than the counted steps.
            groups.setdefault((row.variant, row.hidden_size, row.n_train), []).append(row)
    # The processes of one variant far apart in the order, as the timed processes are.
    jobs = [(group, index) for index in range(processes) for group in groups.values()]
    live: set = set()

    def one(group, index):
        scratch = os.path.join(scratch_root, f"cost-{group[0].variant}-p{index}")
        timeout_s = max(plan.worker_timeout_s, COST_TIMEOUT_S * len(group))
        try:
            return run_cost_process(group, plan, index, valgrind, scratch, timeout_s, live)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        pending = {pool.submit(one, group, index): group for group, index in jobs}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                group = pending.pop(future)
                records = future.result()
                for row in group:
                    record, cost = records[row.id], costs[row.id]
                    cost["processes"] = sorted(cost["processes"] + [record],
                                               key=lambda p: p["index"])
                    cost.update(summarize_cost(cost["processes"], family(row),
                                               row.variant))
                    if on_cost:
                        on_cost(row, Cost.from_dict(cost), CostProcess.from_dict(record))
    except BaseException:
        for proc in list(live):
            _kill_group(proc)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return {row_id: Cost.from_dict(record) for row_id, record in costs.items()}


def new_cost(row, plan, valgrind_version: str | None) -> dict:
    """A row's ``Cost`` record before its processes ran."""
    steps, _ = counted_steps(row.batch_size, row.n_train or plan.n_train)
    return {"metric": "instructions", "status": "not run", "reason": "",
            "tool": valgrind_version, "fixed": describe_fixed(),
            "counted_steps": steps * counted_epochs(row), "counted_epochs": counted_epochs(row),
            "processes": []}


def counted_epochs(row) -> int:
    """How many times the counted epoch runs in the counted window (COUNTED_EPOCHS)."""
    return COUNTED_EPOCHS.get(row.variant, 1)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def summarize_cost(processes: list[dict], family: str, variant: str = "") -> dict:
    """A row's ``Cost`` summary (docs/result_format.md) from its cost processes' records.

    ``instructions_per_step``: the median over ok processes; ``spread_pct``: (max - min) /
    median over them, percent (null below 2); ``tolerance_pct``: the larger of the row
    family's measured repeatability (FAMILY_TOLERANCE_PCT) and ``spread_pct``, or null for a
    variant in NOT_REPEATABLE (``not_repeatable`` then says why).
    """
    ok = [p for p in processes if p["status"] == "ok"]
    floor = FAMILY_TOLERANCE_PCT.get(family, DEFAULT_TOLERANCE_PCT)
    if variant in NOT_REPEATABLE:
        summary = summarize_cost(processes, family)
        return summary | {"tolerance_pct": None, "not_repeatable": NOT_REPEATABLE[variant]}
    if not ok:
        reasons = [p["reason"] for p in processes if p.get("reason")]
        status = "skipped" if processes and all(p["status"] == "skipped" for p in processes) \
            else "failed"
        return {"status": status, "reason": reasons[0] if reasons else "no cost process ran",
                "instructions_per_step": None, "process_instructions_per_step": [],
                "spread_pct": None, "tolerance_pct": floor, "by_category_per_step": None}
    values = [p["instructions_per_step"] for p in ok]
    median = statistics.median(values)
    spread = (max(values) - min(values)) / median * 100 if len(values) > 1 else None
    middle = min(ok, key=lambda p: abs(p["instructions_per_step"] - median))
    per_step = {k: v / middle["steps"] for k, v in middle["by_category"].items()}
    failed = [p for p in processes if p["status"] != "ok"]
    return {"status": "ok" if not failed else "partial",
            "reason": "; ".join(p["reason"] for p in failed),
            "instructions_per_step": median, "process_instructions_per_step": values,
            "spread_pct": spread, "tolerance_pct": max(floor, spread or 0.0),
            "by_category_per_step": per_step}


def family(row) -> str:
    """The row's family for FAMILY_TOLERANCE_PCT: its implementation (torch, keras-jax, ...)."""
    return row.implementation


def describe_fixed() -> dict:
    """What a cost process fixes for determinism, as recorded in its result."""
    return {"env": dict(DETERMINISM_ENV), "xla_flags": XLA_ONE_THREAD, "threads": 1,
            "jax_cpu_async_dispatch": False, "keras_async_callbacks": False,
            "input_alignment_bytes": INPUT_ALIGNMENT_BYTES,
            "counted": "one epoch of the counted steps (COUNTED_EPOCHS for jax-scan) after "
                       "one uncounted warm-up epoch of the same batches, its inputs at a "
                       "64-byte boundary; Python's garbage collected before counting; jax's "
                       "computations and Keras's batch-end callbacks run on the calling "
                       "thread; thread pools' idle workers "
                       "searching for work (Eigen's ThreadPoolTempl) taken out of the count "
                       "(pool_spin_instructions)",
            "tool": "valgrind --tool=callgrind --instr-atstart=no; counting switched on and off "
                    "by valgrind client requests (pytest-codspeed's hooks)"}

