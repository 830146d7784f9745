"""The instructions metric (benchmarks/cost.py, callgrind.py, cost_worker.py): callgrind's
file read right, the cost processes' plumbing (with a fake valgrind), its refusals, and one
real count where valgrind is installed."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from benchmarks import callgrind, cost, cost_worker
from benchmarks.options import OptionError, make_plan
from benchmarks.plan import Row
from reports import instructions
from results import model
from tests.helpers import ROOT, framework_env, run_python

# Self costs: interpreter 600 + 400, kernel 300, JIT 50, libc 150 + 100; the 300 after
# calls= is sgemm's inclusive cost seen from its caller, not the caller's own.
FAKE_CALLGRIND = textwrap.dedent("""\
    # callgrind format
    version: 1
    creator: fake
    cmd: python
    positions: line
    events: Ir
    ob=(1) /usr/lib/libpython3.11.so.1.0
    fl=(1) ceval.c
    fn=(1) _PyEval_EvalFrameDefault
    10 600
    +1 400
    cob=(2) /opt/numpy.libs/libscipy_openblas64_-32a4b2a6.so
    cfi=(2) gemm.c
    cfn=(2) sgemm_kernel
    calls=1 20
    11 300
    ob=(2)
    fl=(2)
    fn=(2)
    20 300
    ob=(3) ???
    fl=(3) ???
    fn=(3) 0x000000000dead
    0 50
    ob=(4) /lib/x86_64-linux-gnu/libc.so.6
    fl=(4) memcpy.c
    fn=(4) memcpy
    5 150
    * 100
    totals: 1600
    """)
FAKE_TOTAL = 1600


def test_the_parser_reads_self_cost_per_object_and_skips_a_calls_inclusive_cost(tmp_path):
    path = tmp_path / "callgrind.out"
    path.write_text(FAKE_CALLGRIND)
    parsed = callgrind.parse_callgrind(path)
    assert parsed["events"] == ["Ir"]
    assert parsed["totals"] == [FAKE_TOTAL]
    assert sum(c[0] for c in parsed["by_function"].values()) == FAKE_TOTAL
    by_category = callgrind.instructions_by_category(parsed["by_function"])
    assert by_category == {"interpreter": 1000, "framework runtime": 0, "math kernels": 300,
                           "JIT-compiled": 50, "system": 250}
    assert callgrind.instructions_by_object(parsed["by_function"])["libc.so.6"] == 250


# An XLA worker thread: the task it runs (a JIT kernel, 700) under WorkerLoop stays counted;
# the pool's search for work (WorkerLoop's own 40, Steal's 200 and WaitForWork's 60, and
# the 30 of __tls_get_addr that Steal calls) is taken out.
POOL_CALLGRIND = textwrap.dedent("""\
    events: Ir
    ob=(1) /jaxlib/libjax_common.so
    fn=(1) Eigen::ThreadPoolTempl<tsl::thread::EigenEnvironment>::WorkerLoop(int)
    1 40
    cob=(2) ???
    cfn=(2) 0x00000000deadbeef
    calls=1 0
    2 700
    cfn=(3) Eigen::ThreadPoolTempl<tsl::thread::EigenEnvironment>::Steal()
    calls=3 0
    3 230
    fn=(3)
    5 200
    cob=(4) /lib64/ld-linux-x86-64.so.2
    cfn=(4) __tls_get_addr
    calls=1 0
    6 30
    fn=(5) Eigen::ThreadPoolTempl<tsl::thread::EigenEnvironment>::WaitForWork(int)
    7 60
    ob=(2)
    fn=(2)
    0 700
    ob=(4)
    fn=(4)
    0 30
    """)


def test_a_thread_pools_search_for_work_is_taken_out_of_the_count(tmp_path):
    path = tmp_path / "callgrind.out"
    path.write_text(POOL_CALLGRIND)
    parsed = callgrind.parse_callgrind(path)
    assert parsed["totals"] == [1030]
    spin = callgrind.pool_spin_instructions(parsed)
    assert sum(spin.values()) == 40 + 200 + 60 + 30
    counted = callgrind.count_fields(parsed, steps=1)
    assert counted["instructions"] == 700
    assert counted["pool_spin_instructions"] == 330
    assert counted["by_category"]["JIT-compiled"] == 700
    assert counted["by_category"]["framework runtime"] == 0
    assert counted["by_category"]["system"] == 0


def test_a_file_that_is_not_callgrinds_is_one_sentence(tmp_path):
    path = tmp_path / "callgrind.out"
    path.write_text("hello\n")
    with pytest.raises(callgrind.CallgrindFormatError, match="no 'events:' line"):
        callgrind.parse_callgrind(path)


@pytest.mark.parametrize("obj, fn, expected", [
    ("/usr/lib/libpython3.11.so.1.0", "PyObject_Call", "interpreter"),
    ("/venv/bin/python3.11", "main", "interpreter"),
    ("???", "0x1234", "JIT-compiled"),
    ("/site-packages/torch/lib/libtorch_cpu.so", "mkl_blas_avx2_sgemm_kernel", "math kernels"),
    ("/site-packages/torch/lib/libtorch_cpu.so", "at::native::add_kernel", "framework runtime"),
    ("/site-packages/jaxlib/libjax_common.so", "xla::cpu::Thunk", "framework runtime"),
    ("/numpy.libs/libscipy_openblas64_-32a4b2a6.so", "sgemv_t", "math kernels"),
    ("/lib/x86_64-linux-gnu/libc.so.6", "memcpy", "system"),
    ("/lib/x86_64-linux-gnu/libstdc++.so.6.0.30", "operator new", "system"),
])
def test_each_object_has_its_category(obj, fn, expected):
    assert callgrind.category(obj, fn) == expected


def test_the_counted_epoch_is_whole_batches_at_most_counted_steps():
    assert cost.counted_steps(32, 10_000) == (50, 1600)
    assert cost.counted_steps(1024, 10_000) == (9, 9216)
    assert cost.counted_steps(64, 40) == (1, 40)


def test_jax_scan_counts_its_epoch_eight_times_and_says_so():
    plan = make_plan("default", impl="jax-scan,numpy-loop", device="cpu",
                     metric="instructions")
    steps, _ = cost.counted_steps(32, plan.n_train)
    scan = cost.new_cost(Row("jax", "scan", "cpu", 32), plan, None)
    loop = cost.new_cost(Row("numpy", "loop", "cpu", 32), plan, None)
    assert scan["counted_epochs"] == cost.COUNTED_EPOCHS["jax-scan"] == 8
    assert scan["counted_steps"] == 8 * steps
    assert (loop["counted_epochs"], loop["counted_steps"]) == (1, steps)


def test_the_work_fault_adds_whole_batches_to_its_row_only(monkeypatch):
    monkeypatch.setenv(cost_worker.FAULT_ENV, "work:numpy-loop-cpu-b32:0.02")
    assert cost_worker.extra_work_steps("numpy-loop-cpu-b32", 50) == 1
    assert cost_worker.extra_work_steps("torch-loop-cpu-b32", 50) == 0
    monkeypatch.setenv(cost_worker.FAULT_ENV, "slow:numpy-loop-cpu-b32:1.3")
    assert cost_worker.extra_work_steps("numpy-loop-cpu-b32", 50) == 0


def test_metric_option_takes_time_or_instructions_only():
    assert make_plan("quick").metric == "time"
    assert make_plan("quick", metric="instructions").metric == "instructions"
    with pytest.raises(OptionError, match="--metric: expected one of time, instructions"):
        make_plan("quick", metric="cycles")


def test_what_the_metric_needs_is_named_with_how_to_get_it(monkeypatch, tmp_path):
    import importlib.util

    monkeypatch.setenv(cost.VALGRIND_ENV, "")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cost.missing_requirement() == cost.INSTALL_HINT
    monkeypatch.setenv(cost.VALGRIND_ENV, sys.executable)  # any program will do here
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None
                        if name == "pytest_codspeed" else real_find_spec(name, *a))
    assert cost.missing_requirement() == cost.HOOKS_HINT
    assert "pip install pytest-codspeed" in cost.HOOKS_HINT


def test_a_variant_whose_count_does_not_repeat_has_no_tolerance(monkeypatch):
    monkeypatch.setitem(cost.NOT_REPEATABLE, "keras-jax-fit", "it moved, so it is judged on time")
    record = {"index": 0, "status": "ok", "reason": "", "steps": 9,
              "instructions_per_step": 1.5e6, "by_category": {"interpreter": 9.0}}
    summary = cost.summarize_cost([record], "keras-jax", "keras-jax-fit")
    assert summary["instructions_per_step"] == 1.5e6
    assert summary["tolerance_pct"] is None and "judged on time" in summary["not_repeatable"]
    assert cost.summarize_cost([record], "keras-jax", "keras-jax-fit-spe")["tolerance_pct"] \
        == cost.FAMILY_TOLERANCE_PCT["keras-jax"]


def test_gpu_and_data_parallel_rows_say_the_metric_does_not_apply():
    assert "does not apply on cuda" in cost.not_applicable_reason(
        Row("torch", "loop", "cuda", 32))
    assert "data-parallel" in cost.not_applicable_reason(Row("torch", "ddp", "cpu", 32))
    assert cost.not_applicable_reason(Row("numpy", "loop", "cpu", 32)) is None



@pytest.mark.parametrize("shape,dtype,offset", [((50, 10), "float32", 4), ((1000,), "float32", 16),
                                                ((7, 3), "float64", 8)])
def test_the_counted_inputs_start_at_a_64_byte_boundary_with_their_values(shape, dtype,
                                                                         offset):
    import numpy as np

    # A view that starts off any 64-byte boundary, as malloc's 16-byte ones often do.
    backing = np.arange(np.prod(shape) + offset, dtype=dtype)
    a = backing[offset:].reshape(shape)
    out = cost_worker.aligned_copy(a)
    assert out.ctypes.data % cost.INPUT_ALIGNMENT_BYTES == 0
    assert out.shape == a.shape and out.dtype == a.dtype and out.flags.c_contiguous
    assert np.array_equal(out, a) and not np.shares_memory(out, a)
    # Batches sliced from it stay aligned at the suite's batch sizes (rows of 10 float32).
    rows = cost_worker.aligned_copy(np.zeros((2048, 10), np.float32))
    assert all(rows[b:].ctypes.data % 64 == 0 for b in (32, 1024))


def test_the_cost_environment_fixes_the_allocator_and_the_result_says_so():
    env = cost.cost_env({"XLA_FLAGS": "--xla_force_host_platform_device_count=1"})
    assert env["MALLOC_ARENA_MAX"] == "1" and env["MALLOC_MMAP_THRESHOLD_"] == "131072"
    assert env["XLA_FLAGS"].split() == ["--xla_force_host_platform_device_count=1",
                                        cost.XLA_ONE_THREAD]
    fixed = cost.describe_fixed()
    assert fixed["env"]["MALLOC_ARENA_MAX"] == "1"
    assert fixed["jax_cpu_async_dispatch"] is False and fixed["keras_async_callbacks"] is False
    assert fixed["input_alignment_bytes"] == 64


def test_jax_is_told_to_run_its_computations_on_the_calling_thread():
    pytest.importorskip("jax")
    code = ("from benchmarks import cost_worker; import jax\n"
            "before = jax.config.values['jax_cpu_enable_async_dispatch']\n"
            "cost_worker.run_jax_inline()\n"
            "print(before, jax.config.values['jax_cpu_enable_async_dispatch'])")
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["True", "False"]


KERAS_CALLBACK_THREADS = """
import threading
import numpy as np
from benchmarks import cost_worker
import keras

class Where(keras.callbacks.Callback):
    async_safe = True  # Keras may run it on its callback thread pool

    def __init__(self):
        super().__init__()
        self.threads = []

    def on_train_batch_end(self, batch, logs=None):
        self.threads.append(threading.get_ident())

def off_the_calling_thread():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    where = Where()
    model.fit(np.ones((64, 4), "float32"), np.ones((64, 1), "float32"), batch_size=8,
              epochs=1, verbose=0, callbacks=[where])
    assert len(where.threads) == 8
    return sum(t != threading.get_ident() for t in where.threads)

before = off_the_calling_thread()
cost_worker.run_keras_callbacks_inline()
print(before, off_the_calling_thread())
"""


def test_keras_fit_runs_its_batch_end_callbacks_on_the_calling_thread(tmp_path_factory):
    pytest.importorskip("keras")
    pytest.importorskip("jax")
    done = run_python(KERAS_CALLBACK_THREADS,
                      env=framework_env(tmp_path_factory, KERAS_BACKEND="jax"))
    assert done.returncode == 0, done.stderr
    before, after = map(int, done.stdout.split()[-2:])
    assert before > 0  # Keras on jax hands them to its pool unless told not to
    assert after == 0

# -- the plumbing, with a fake valgrind --------------------------------------------------------

# Runs the cost worker without valgrind (its client requests do nothing then) and writes one
# dump per row of the job, as callgrind does for each CALLGRIND_DUMP_STATS_AT(row id).
FAKE_VALGRIND = """#!{python}
import json, os, subprocess, sys
args = sys.argv[1:]
if args == ["--version"]:
    print("valgrind-fake")
    sys.exit(0)
if os.environ.get("FAKE_VALGRIND_PID_FILE"):  # a worker that never ends
    with open(os.environ["FAKE_VALGRIND_PID_FILE"], "a") as fh:
        fh.write(f"{{os.getpid()}}\\n")
    import time
    time.sleep(1000)
if os.environ.get("FAKE_VALGRIND_FAILS"):
    sys.stderr.write("vex amd64->IR: unhandled instruction bytes: 0x62 0xF1\\n"
                     "valgrind: Unrecognised instruction at address 0x4a3b2c.\\n")
    sys.exit(1)
out = next(a.split("=", 1)[1] for a in args if a.startswith("--callgrind-out-file="))
assert "--tool=callgrind" in args and "--instr-atstart=no" in args, args
job = sys.stdin.read()
rc = subprocess.run([a for a in args if not a.startswith("--")], input=job,
                    text=True).returncode
for number, count in enumerate(json.loads(job)["counts"], 1):
    with open(f"{{out}}.{{number}}", "w") as fh:
        fh.write({content!r}.replace(
            "creator: fake", f"desc: Trigger: Client Request: {{count['id']}}"))
sys.exit(rc)
"""


@pytest.fixture
def fake_valgrind(tmp_path, monkeypatch):
    path = tmp_path / "valgrind"
    path.write_text(FAKE_VALGRIND.format(python=sys.executable, content=FAKE_CALLGRIND))
    path.chmod(0o755)
    monkeypatch.setenv(cost.VALGRIND_ENV, str(path))
    return path


def test_cost_processes_run_the_row_and_record_the_count_per_step(fake_valgrind, tmp_path):
    plan = make_plan("quick", impl="numpy-loop,torch-loop", batch_size="32,64",
                     device="cpu,cuda", metric="instructions")
    heard = []
    costs = cost.run_cost_pass(plan.rows(), plan, str(tmp_path / "scratch"), processes=2,
                               on_cost=lambda row, c, p: heard.append((row.id, p.index)))
    numpy_cost = costs["numpy-loop-cpu-b32"].to_dict()
    assert numpy_cost["status"] == "ok", numpy_cost
    steps, _ = cost.counted_steps(32, plan.n_train)
    assert numpy_cost["counted_steps"] == steps
    assert numpy_cost["instructions_per_step"] == FAKE_TOTAL / steps
    assert numpy_cost["process_instructions_per_step"] == [FAKE_TOTAL / steps] * 2
    assert numpy_cost["spread_pct"] == 0
    assert numpy_cost["by_category_per_step"]["interpreter"] == 1000 / steps
    assert numpy_cost["tool"] == "valgrind-fake"
    assert numpy_cost["fixed"]["env"]["PYTHONHASHSEED"] == "0"
    process = numpy_cost["processes"][0]
    assert process["settings"]["implementation"] == "numpy"
    assert process["settings"]["intra_op_threads"] == 1
    assert costs["torch-loop-cuda-b32"].status == "not applicable"
    assert costs["numpy-loop-cpu-b64"].counted_steps == cost.counted_steps(64, plan.n_train)[0]
    assert costs["numpy-loop-cpu-b64"].status == "ok"
    assert sorted(heard) == sorted([(f"{v}-cpu-b{b}", i) for v in ("numpy-loop", "torch-loop")
                                    for b in (32, 64) for i in (0, 1)])
    assert not os.listdir(tmp_path / "scratch")  # every cost process's scratch removed


def test_a_row_valgrind_cannot_run_records_why(fake_valgrind, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_VALGRIND_FAILS", "1")
    plan = make_plan("quick", impl="numpy-loop", batch_size="32", metric="instructions")
    (row,) = plan.rows()
    costs = cost.run_cost_pass([row], plan, str(tmp_path), processes=1)
    assert costs[row.id].status == "failed"
    assert costs[row.id].reason == ("valgrind could not run this row (exit status 1): "
                                       "valgrind: Unrecognised instruction at address "
                                       "0x4a3b2c.")


def test_ctrl_c_stops_every_cost_worker(fake_valgrind, tmp_path):
    import signal
    import time

    import psutil

    pids = tmp_path / "pids"
    code = ("from benchmarks import cost; from benchmarks.options import make_plan; "
            "plan = make_plan('quick', impl='numpy-loop,torch-loop', metric='instructions'); "
            f"cost.run_cost_pass(plan.rows(), plan, {str(tmp_path / 'scratch')!r})")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, text=True,
                            stderr=subprocess.PIPE,
                            env=framework_env(FAKE_VALGRIND_PID_FILE=str(pids)))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(pids.read_text().split()
                                              if pids.exists() else []) < 2:
        time.sleep(0.2)
    workers = [int(pid) for pid in pids.read_text().split()]
    assert len(workers) == 2  # two at a time
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "KeyboardInterrupt" in err
    time.sleep(0.5)
    assert not [pid for pid in workers if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]


def _run_bench(tmp_path, *args, **env):
    tmp = tmp_path / "tmpdir"
    tmp.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--benchmark", "--preset", "quick", "--impl",
         "numpy-loop", "--batch-size", "32", f"--report-dir={tmp_path}",
         *args], cwd=ROOT, text=True, capture_output=True, timeout=600,
        env=framework_env(TMPDIR=str(tmp), **env))


def _results(report_dir):
    import json

    (path,) = list(report_dir.glob("*/results.json"))
    return json.loads(path.read_text()), path.parent


def test_metric_instructions_end_to_end_with_a_fake_valgrind(fake_valgrind, tmp_path):
    result = _run_bench(tmp_path, "--metric", "instructions")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "counting instructions per step under callgrind" in result.stdout
    summary = result.stdout.split(instructions.TITLE, 1)[1]  # the terminal's cost table
    assert "| numpy-loop-cpu-b32 |" in summary
    data, folder = _results(tmp_path)
    (row,) = data["rows"]
    assert row["status"] == "ok" and row["summary"]["us_per_step"] > 0  # the time row ran
    assert row["cost"]["status"] == "ok"
    assert data["plan"]["metric"] == "instructions"
    report = (folder / "report" / "report.md") if (folder / "report").is_dir() else None
    report = report or next(folder.rglob("report.md"))
    text = report.read_text()
    assert f"## {instructions.TITLE}" in text
    assert "numpy-loop-cpu-b32" in (report.parent / "cost.csv").read_text()
    assert (report.parent / "instructions_per_step.png").stat().st_size > 0


def test_without_valgrind_one_sentence_says_how_to_get_it_and_the_time_rows_run(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    result = _run_bench(tmp_path, "--metric", "instructions", PATH=str(empty),
                        **{cost.VALGRIND_ENV: ""})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"WARNING: {cost.INSTALL_HINT}" in result.stdout
    assert "apt-get install valgrind" in cost.INSTALL_HINT
    data, _ = _results(tmp_path)
    (row,) = data["rows"]
    assert row["status"] == "ok" and "cost" not in row
    assert cost.INSTALL_HINT in data["warnings"]


# -- a real valgrind ---------------------------------------------------------------------------

needs_valgrind = pytest.mark.skipif(shutil.which("valgrind") is None,
                                    reason="valgrind is not installed (apt-get install valgrind)")


@needs_valgrind
def test_the_parser_agrees_with_callgrind_annotate(tmp_path):
    out = tmp_path / "callgrind.out"
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                    sys.executable, "-c", "sum(range(10000))"], check=True,
                   capture_output=True, timeout=300)
    annotated = subprocess.run(["callgrind_annotate", str(out)], check=True,
                               capture_output=True, text=True).stdout
    line = next(line for line in annotated.splitlines() if "PROGRAM TOTALS" in line)
    total = int(re.match(r"\s*([\d,]+)", line)[1].replace(",", ""))
    parsed = callgrind.parse_callgrind(out)
    assert parsed["totals"][0] == total
    # The self costs add up to the total: no call's inclusive cost was counted twice.
    assert sum(c[0] for c in parsed["by_function"].values()) == total
    by_category = callgrind.instructions_by_category(parsed["by_function"])
    assert by_category["interpreter"] > 0.3 * total


@needs_valgrind
def test_a_real_count_repeats_and_two_percent_more_work_is_called_slower(tmp_path):
    # Both passes in a fresh interpreter, as the plugin's process makes them: in the whole
    # suite, state that an earlier module left in this pytest worker made the same two
    # passes count +6.0% (twice, to the last digit) while this module alone counted +2%.
    code = textwrap.dedent(f"""
        import json, os
        from benchmarks import cost, cost_worker
        from benchmarks.options import make_plan
        plan = make_plan("quick", impl="numpy-loop", batch_size="32", n_train="2000",
                         metric="instructions")
        (row,) = plan.rows()
        base = cost.run_cost_pass([row], plan, {str(tmp_path / "a")!r}, processes=2)[row.id]
        os.environ[cost_worker.FAULT_ENV] = f"work:{{row.id}}:0.02"
        more = cost.run_cost_pass([row], plan, {str(tmp_path / "b")!r})[row.id]
        print(json.dumps({{"base": base.to_dict(), "more": more.to_dict()}}))
    """)
    result = run_python(code, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    base, more = counts["base"], counts["more"]
    assert base["status"] == "ok", base
    assert base["spread_pct"] < 0.5
    assert base["by_category_per_step"]["interpreter"] > 0
    ratio = more["instructions_per_step"] / base["instructions_per_step"]
    # One batch in 50 more: +2.04% for this row here, +2.01% for torch-loop (README); the
    # bound above is loose (one run in the test suite gave +2.85%; why is not known yet).
    assert 1.015 < ratio < 1.04
    verdict = instructions.compare_cost(model.Row.from_dict({"cost": base}),
                                        model.Row.from_dict({"cost": more}))
    assert verdict["verdict"] == "slower", verdict
    same = instructions.compare_cost(model.Row.from_dict({"cost": base}),
                                     model.Row.from_dict({"cost": base}))
    assert same["verdict"] == "same"
