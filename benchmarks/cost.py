"""The cost of a training step in instructions, counted by valgrind's callgrind.

Wall time on a shared machine moves by 2x from one try to the next (README, "The cost
metric"); the number of instructions a step executes does not. ``pytest --benchmark
--metric instructions`` therefore also runs each CPU row's step under callgrind
(``valgrind --tool=callgrind --instr-atstart=no``), with counting switched on only around
the counted epoch through valgrind's client requests, sent from Python by pytest-codspeed's
compiled hooks. It records instructions per training step, split by the shared object that
executed them (interpreter, framework runtime, math kernels, JIT-compiled code, system
libraries), as rustc-perf, CodSpeed and iai-callgrind do for their benchmarks.

This module is both halves: the coordinator's side (``run_cost_process``, ``summarize_cost``,
the callgrind file parser) and the worker that runs under valgrind (``python -m
benchmarks.cost < job.json``).
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

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

# Where an instruction was executed, by shared object; CATEGORIES is the order of the stacked
# bar. callgrind names JIT-compiled code (XLA's, oneDNN's kernels) "???": no file holds it.
CATEGORIES = ("interpreter", "framework runtime", "math kernels", "JIT-compiled", "system")
_KERNEL_OBJECT = re.compile(r"openblas|libmkl|libdnnl|onednn|libblas|liblapack|libgfortran",
                            re.IGNORECASE)
# Kernels linked into a framework's own library (libtorch_cpu holds MKL and oneDNN, the
# TensorFlow and XLA libraries hold Eigen): known by their function names.
_KERNEL_FUNCTION = re.compile(r"^(mkl_|dnnl|zendnn|sgemm|dgemm|gemm|cblas_|openblas|"
                              r".*Eigen::internal::(gebp|gemm|general_matrix|TensorContraction)|"
                              r".*xnnpack|xnn_|.*dnnl::|.*at::native::cpublas)")
_INTERPRETER_OBJECT = re.compile(r"(^|/)(lib)?python3[\d.]*(\.so|d?m?$|$)|/lib-dynload/|"
                                 r"(^|/)python3?[\d.]*$")
_SYSTEM_OBJECT = re.compile(r"(^|/)(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s|"
                            r"ld-linux|libgomp|libiomp|libz|libffi|libutil)[-.\w]*\.so|"
                            r"vgpreload|/valgrind/")


def category(obj: str, fn: str = "") -> str:
    """The CATEGORIES entry of code in shared object ``obj`` (callgrind's ``ob=``), function
    ``fn``: "???" is JIT-compiled code; kernels are known by their library or their name."""
    if obj in ("???", ""):
        return "JIT-compiled"
    if _KERNEL_OBJECT.search(obj) or _KERNEL_FUNCTION.match(fn):
        return "math kernels"
    if _INTERPRETER_OBJECT.search(obj):
        return "interpreter"
    if _SYSTEM_OBJECT.search(obj):
        return "system"
    return "framework runtime"


# -- reading callgrind's output -------------------------------------------------------------


class CallgrindFormatError(ValueError):
    """A callgrind output file that this parser cannot read; the message says where."""


_POSITION = re.compile(r"^([+-]\d+|\*|0x[0-9a-fA-F]+|\d+)$")
_COMPRESSED = re.compile(r"^\((\d+)\)(?: (.*))?$")


def parse_callgrind(path) -> dict:
    """Self cost per (shared object, function) of one callgrind output file.

    Returns ``{"events": [str, ...], "totals": [int, ...], "by_function": {(ob, fn):
    [int, ...]}, "calls": {((ob, fn), (callee ob, callee fn)): [int, ...]}, "trigger": str |
    None}``, one value per event (``Ir``: instructions executed); ``calls`` holds each call
    arc's inclusive cost; ``trigger`` is what made the dump ("Client Request: NAME"). Follows
    valgrind's "Callgrind Format Specification" (valgrind's docs/cl-format.xml): name
    compression ``(id) name`` / ``(id)``, relative positions ``+n``/``-n``/``*``, and the
    cost line after a ``calls=`` line, which is the call's inclusive cost and therefore
    not the caller's self cost. The totals are the file's ``totals:`` (or ``summary:``)
    line when it has one, else the sum of the self costs. Raises CallgrindFormatError.
    """
    events, positions, totals, trigger = None, 1, None, None
    names: dict[str, dict[str, str]] = {"ob": {}, "fl": {}, "fn": {}}
    ob = fn = cob = cfn = ""
    after_calls = False
    by_function: dict[tuple[str, str], list[int]] = {}
    calls: dict[tuple[tuple[str, str], tuple[str, str]], list[int]] = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, raw in enumerate(fh, 1):
            line = raw.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            head = line[0]
            if head.isdigit() or head in "+-*" or line.startswith("0x"):
                fields = line.split()
                values = fields[positions:]
                if not all(_POSITION.match(p) for p in fields[:positions]):
                    raise CallgrindFormatError(f"{path}:{number}: not a cost line: {line!r}")
                if after_calls:  # the call's inclusive cost, not self cost
                    after_calls = False
                    arc = calls.setdefault(((ob, fn), (cob or ob, cfn)), [0] * len(events))
                    for i, value in enumerate(values[:len(events)]):
                        arc[i] += int(value)
                    continue
                if events is None:
                    raise CallgrindFormatError(f"{path}:{number}: a cost line before events:")
                cost = by_function.setdefault((ob, fn), [0] * len(events))
                for i, value in enumerate(values[:len(events)]):
                    cost[i] += int(value)
                continue
            key, sep, value = line.partition("=")
            if sep and key in ("ob", "fl", "fi", "fe", "fn", "cob", "cfi", "cfl", "cfn"):
                kind = {"fi": "fl", "fe": "fl", "cfi": "fl", "cfl": "fl", "cob": "ob",
                        "cfn": "fn"}.get(key, key)
                name = _name(names[kind], value)
                if key == "ob":
                    ob = name
                elif key == "fn":
                    fn, cob = name, ""
                elif key == "cob":
                    cob = name
                elif key == "cfn":
                    cfn = name
                continue
            if sep and key == "calls":
                after_calls = True
                continue
            if sep and key in ("jump", "jcnd"):
                continue
            key, sep, value = line.partition(":")
            if key == "desc" and value.strip().startswith("Trigger:"):
                trigger = value.strip()[len("Trigger:"):].strip()
            elif key == "events":
                events = value.split()
            elif key == "positions":
                positions = len(value.split())
            elif key in ("totals", "summary"):
                totals = [int(v) for v in value.split()]
    if events is None:
        raise CallgrindFormatError(f"{path}: no 'events:' line, so not a callgrind output file")
    summed = [sum(c[i] for c in by_function.values()) for i in range(len(events))]
    totals = (totals + [0] * len(events))[:len(events)] if totals else summed
    return {"events": events, "totals": totals, "by_function": by_function,
            "calls": calls, "trigger": trigger}


def _name(table: dict[str, str], value: str) -> str:
    match = _COMPRESSED.match(value)
    if not match:
        return value
    ident, name = match.groups()
    if name is not None:
        table[ident] = name
    return table.get(ident, f"({ident})")


# A thread pool's idle workers looking for work: Eigen's ThreadPoolTempl (TensorFlow's and
# XLA's pools, through tsl) spins in WorkerLoop, Steal and WaitForWork before it sleeps, for
# as long as the scheduler lets it. That count follows timing, not work: two processes of
# jax-scan at batch 1024 differed by 472 k instructions, all of it in these functions (and
# the calls they make), which is why they are taken out of the count and recorded apart.
_POOL_SPIN = re.compile(r"Eigen::ThreadPoolTempl<.*>::(WorkerLoop|WaitForWork|Steal|"
                        r"LocalSteal|GlobalSteal|MaybeGetTask|NonEmptyQueueIndex|Spin)\b|"
                        r"Eigen::RunQueue<|EigenEnvironment::Task::operator=|"
                        r"Eigen::EventCount::")
# WorkerLoop also calls the tasks themselves: its calls stay counted.
_RUNS_TASKS = re.compile(r"::WorkerLoop\b")


def is_pool_spin(fn: str) -> bool:
    """Whether function ``fn`` is a thread pool's search for work (``_POOL_SPIN``)."""
    return bool(_POOL_SPIN.search(fn))


def pool_spin_instructions(parsed: dict, event: int = 0) -> dict[tuple[str, str], int]:
    """The instructions of thread pools waiting for work, by (object, function) where they
    ran: the self cost of ``_POOL_SPIN`` functions, and the calls those functions make (all
    but WorkerLoop, which runs the tasks) to other functions (``__tls_get_addr``, say)."""
    out: dict[tuple[str, str], int] = {}
    for (obj, fn), cost in parsed["by_function"].items():
        if is_pool_spin(fn):
            out[(obj, fn)] = out.get((obj, fn), 0) + cost[event]
    for ((_, caller), callee), cost in parsed.get("calls", {}).items():
        if is_pool_spin(caller) and not _RUNS_TASKS.search(caller) \
                and not is_pool_spin(callee[1]):
            out[callee] = out.get(callee, 0) + cost[event]
    return out


def instructions_by_category(by_function: dict, event: int = 0,
                             spin: dict | None = None) -> dict[str, int]:
    """Instructions (``by_function``'s ``event``-th value) summed per CATEGORIES entry, less
    ``spin`` (pool_spin_instructions: by object and function) where it ran."""
    out = dict.fromkeys(CATEGORIES, 0)
    for (obj, fn), cost in by_function.items():
        out[category(obj, fn)] += cost[event]
    for (obj, fn), cost in (spin or {}).items():
        name = category(obj, fn)
        out[name] = max(0, out[name] - cost)
    return out


def instructions_by_object(by_function: dict, event: int = 0, top: int = 12) -> dict[str, int]:
    """Instructions per shared object (its file name), the ``top`` largest, the rest summed
    under "other"."""
    per: dict[str, int] = {}
    for (obj, _fn), cost in by_function.items():
        name = os.path.basename(obj) or "???"
        per[name] = per.get(name, 0) + cost[event]
    ranked = sorted(per.items(), key=lambda kv: -kv[1])
    out = dict(ranked[:top])
    rest = sum(v for _, v in ranked[top:])
    if rest:
        out["other"] = rest
    return out


# -- the coordinator's side -----------------------------------------------------------------


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
    """Why the instruction count does not apply to ``row`` (a ``benchmarks.options.Row``), or
    None when it does."""
    from benchmarks import options as opts

    if row.device != "cpu":
        return (f"the instructions metric does not apply on {row.device}: callgrind counts "
                "CPU instructions, not the GPU's work")
    if opts.TAGS[row.variant] == "distributed":
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
            f"--callgrind-out-file={out_file}", sys.executable, "-P", "-m", "benchmarks.cost"]


def run_cost_process(rows, plan, index: int, valgrind: str, scratch: str,
                     timeout_s: float, live: set | None = None) -> dict[str, dict]:
    """Run one cost process for ``rows`` (one variant's rows: the framework is imported once
    and each row counted in turn) under valgrind; return each row id's ``CostProcess`` record
    (docs/result_format.md). Never raises for the worker's sake: a failure is recorded, and
    the rows counted before it keep their counts."""
    from benchmarks.runner import STDERR_TAIL_CHARS, telling_line, worker_env

    os.makedirs(os.path.join(scratch, "tmp"), exist_ok=True)
    result_path = os.path.join(scratch, "cost-result.json")
    out_file = os.path.join(scratch, "callgrind.out")
    counts = []
    for row in rows:
        steps, samples = counted_steps(row.batch_size, row.n_train or plan.n_train)
        counts.append({"id": row.id, "row": _row_dict(row),
                       "n_train": row.n_train or plan.n_train,
                       "steps": steps, "samples": samples, "epochs": counted_epochs(row)})
    job = {"counts": counts, "n_test": plan.n_test, "seed": plan.seeds[0],
           "result_path": result_path}
    records = {row.id: {"index": index, "status": "failed", "reason": "", "wall_s": 0.0,
                        "steps": c["steps"] * c["epochs"], "samples": c["samples"]}
               for row, c in zip(rows, counts)}
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
    try:
        with open(result_path) as fh:
            results = json.load(fh)
    except (OSError, ValueError):
        results = {}
    dumps = _dumps_by_trigger(out_file)
    for row in rows:
        record = records[row.id]
        record["wall_s"] = wall_s  # the whole process's, shared by its rows
        result = results.get(row.id)
        if result is None:
            if timed_out:
                record.update(status="timeout", reason=f"the cost worker exceeded its time "
                                                       f"limit of {timeout_s:g} s")
            else:
                why = telling_line(tail) if tail else "no output"
                record["reason"] = (f"valgrind could not run this row (exit status "
                                    f"{proc.returncode}): {why}")
                record["stderr_tail"] = tail
            continue
        if result.get("skip"):
            record.update(status="skipped", reason=result["skip"])
            continue
        record.update(_counted(dumps.get(row.id), record["steps"]))
        if record["status"] == "ok":
            record.update(fixed=result["fixed"], settings=result.get("settings", {}))
    return records


def _dumps_by_trigger(out_file: str) -> dict[str, dict | str]:
    """callgrind's dumps of one process (``out_file.1``, ``out_file.2``, ...; one per counted
    row, each named by the client request that made it), parsed, by row id; a dump that
    could not be read maps to the sentence saying why."""
    out = {}
    folder, name = os.path.split(out_file)
    for entry in sorted(Path(folder).glob(name + ".*")):
        try:
            parsed = parse_callgrind(entry)
        except (OSError, CallgrindFormatError) as err:
            out[entry.name] = f"callgrind's output could not be read: {err}"
            continue
        trigger = parsed.get("trigger") or ""
        if trigger.startswith(DUMP_TRIGGER):
            out[trigger[len(DUMP_TRIGGER):]] = parsed
    return out


def _counted(parsed, steps: int) -> dict:
    """A CostProcess's count fields from its row's parsed dump (or why there is none)."""
    if parsed is None:
        return {"reason": "callgrind wrote no count for this row: the worker's client "
                          "requests did not reach valgrind"}
    if isinstance(parsed, str):
        return {"reason": parsed}
    if "Ir" not in parsed["events"]:
        return {"reason": f"callgrind counted {parsed['events']}, not Ir (instructions)"}
    event = parsed["events"].index("Ir")
    spin = pool_spin_instructions(parsed, event)
    spin_total = sum(spin.values())
    instructions = parsed["totals"][event] - spin_total
    if instructions <= 0:
        return {"reason": "callgrind counted no instructions for this row"}
    return {"status": "ok", "instructions": instructions,
            "instructions_per_step": instructions / steps,
            "pool_spin_instructions": spin_total,
            "by_category": instructions_by_category(parsed["by_function"], event, spin),
            "by_object": instructions_by_object(parsed["by_function"], event)}


def run_cost_pass(rows, plan, scratch_root: str, on_cost=None,
                  processes: int = COST_PROCESSES, workers: int = PARALLEL_COST_WORKERS,
                  valgrind: str | None = None) -> dict[str, dict]:
    """Count every row of ``rows`` in ``processes`` cost processes, ``workers`` at a time.

    Returns each row id's ``Cost`` record (docs/result_format.md); a row the metric does
    not apply to gets one with status "not applicable" and the reason. ``on_cost(row, cost,
    process)`` hears each finished process, in this thread, with the row's record updated.
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
                        on_cost(row, cost, record)
    except BaseException:
        for proc in list(live):
            _kill_group(proc)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return costs


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


def _row_dict(row) -> dict:
    import dataclasses

    return dataclasses.asdict(row)


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


# -- the worker, under valgrind ---------------------------------------------------------------

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


# The start of callgrind's "desc: Trigger:" line of a dump made by a client request, the
# request's text (the row id) after it.
DUMP_TRIGGER = "Client Request: "


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


# The byte boundary the counted epoch's inputs start at. XLA's CPU client uses a host array
# in place only when it starts at a 64-byte boundary, and copies it otherwise (measured with
# jaxlib 0.10.2: offsets 16, 32 and 48 copied, 0, 64 and 128 did not); numpy's arrays come
# from malloc at 16-byte boundaries, so whether jax-scan's epoch copied its labels (37 k
# instructions at batch 1024) depended on where malloc put them, which differed between
# processes. Batches sliced from an aligned epoch stay aligned at batch 32 and 1024 (a row
# is 40 bytes, a label 4).
INPUT_ALIGNMENT_BYTES = 64


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

    from benchmarks import options as opts
    from benchmarks.worker import apply_threads, import_framework
    from frameworks import IMPLEMENTATIONS, FrameworkNotInstalled, SimpleNetSpec, load, make_dataset
    from frameworks.base import check_features_labels

    rows = [opts.Row(**c["row"]) for c in job["counts"]]
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
        twin = load(row.implementation, spec, device="cpu", mode=opts.twin_mode(row))
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
    from benchmarks.worker import _die_with_launcher

    # Valgrind runs this process in place of python, so its parent is the coordinator's
    # thread that waits for it: killed with the coordinator, even by SIGKILL.
    _die_with_launcher()
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
