"""The worker protocol: results, skips, crashes, hangs and lingering workers, each one outcome."""

import sys
import tempfile
import textwrap
import time

import pytest

from benchmarks import failure, runner
from benchmarks import results as res
from benchmarks.options import make_plan
from benchmarks.plan import Row
from benchmarks.runner import EXIT_GRACE_S, run_process, run_row
from benchmarks.timing import timed_epoch
from benchmarks.worker_steps import FAULT_ENV, slow_factor
from frameworks import SimpleNetSpec, make_dataset
from results import format as result_format
from results import summary as summaries

ROW = Row("numpy", "loop", "cpu", 256)


def fake_worker(tmp_path, body):
    script = tmp_path / "fake_worker.py"
    script.write_text(textwrap.dedent(body))
    return [sys.executable, str(script)]


def test_real_worker_measures_a_numpy_row_in_processes_that_share_the_seeds():
    plan = make_plan("quick", epochs="3", seeds="0,1,2", rounds="6", n_train="1000",
                     batch_size="256", processes="2")
    progress = []
    outcomes = run_row(ROW, plan, on_progress=lambda row, index, m: progress.append((index, m)))
    assert [o.status for o in outcomes] == ["ok", "ok"], outcomes[0].reason
    first, second = (o.record().to_dict() for o in outcomes)
    assert (first["index"], first["seeds"], first["cold_cache"]) == (0, [0, 2], True)
    assert (second["index"], second["seeds"], second["cold_cache"]) == (1, [1], False)
    # process 0: 3 epochs x 2 seeds, the first of them the first epoch: 5 steady, topped up to 6
    assert len(first["steady_epoch_s"]) == 6 and len(first["curves"]) == 6
    assert [s["seed"] for s in first["per_seed"]] == [0, 2]
    assert first["first_epoch_s"] > 0 and min(first["steady_epoch_s"]) > 0
    assert first["steps_per_epoch"] == 4 and first["effective_batch_size"] == 256
    assert first["memory"]["peak_rss_above_baseline_bytes"] >= 0
    assert first["cpu"]["cores_used"] > 0 and first["cpu"]["train_cpu_s"] > 0
    assert first["threads"]["requested"] == plan.threads
    assert first["threads"]["threadpools"], "threadpoolctl saw numpy's BLAS"
    assert set(first["load"]["before"]) == {"load1", "load5", "load15",
                                            "cpu_pressure_some_avg10"}
    assert [m["stage"] for i, m in progress if i == 0][0] == "first epoch"
    assert len([m for i, m in progress if m.get("stage") == "epoch"]) == 6 + 3


def test_workers_import_our_modules_whatever_the_working_directory_holds(tmp_path,
                                                                         monkeypatch):
    decoy = tmp_path / "benchmarks"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("")
    (decoy / "worker.py").write_text("raise SystemExit('the decoy ran')\n")
    monkeypatch.chdir(tmp_path)
    outcome = run_process(ROW, make_plan("quick", n_train="1000", batch_size="256", epochs="2"))
    assert outcome.status == "ok", outcome.reason


def test_numpys_training_peak_does_not_grow_with_the_data_set():
    """The memory window is the timed window: the epoch's data copies lie outside it."""
    peaks = {}
    for n_train in ("20000", "400000"):
        plan = make_plan("quick", n_train=n_train, epochs="1", rounds="1", seeds="0")
        outcome = run_process(Row("numpy", "loop", "cpu", 1024), plan)
        assert outcome.status == "ok", outcome.reason
        memory = outcome.result["memory"]
        if memory["peak_rss_scope"] != "train_epoch":
            pytest.skip("this kernel cannot reset the peak RSS (/proc/self/clear_refs)")
        peaks[n_train] = memory["peak_rss_above_baseline_bytes"]
    # 400k samples are 16 MB of float32 inputs: one copy inside the window would show.
    assert peaks["400000"] < peaks["20000"] + 4 * 2**20, peaks


def test_cuda_row_without_a_gpu_is_skipped_with_the_reason():
    outcome = run_process(Row("torch", "loop", "cuda", 32), make_plan("quick"))
    assert outcome.status == "skipped"
    assert "no CUDA" in outcome.reason or "no NVIDIA GPU" in outcome.reason


def test_a_crashing_worker_fails_its_process_with_the_tail_of_its_stderr(tmp_path):
    command = fake_worker(tmp_path, """
        import sys
        print('{"event": "progress", "stage": "epoch", "seed": 0, "epoch": 1, "epochs": 2}',
              flush=True)
        sys.stderr.write("loading...\\n" * 500 + "Segmentation fault in the framework\\n")
        sys.exit(139)
    """)
    outcome = run_process(ROW, make_plan("quick"), command=command)
    assert outcome.status == "failed"
    assert outcome.reason.startswith("worker exited with status 139: Segmentation fault in")
    assert outcome.stderr_tail.endswith("Segmentation fault in the framework")
    assert len(outcome.stderr_tail) <= 2000  # the tail, not the whole log
    assert len(outcome.progress) == 1  # what it said before dying is kept


def test_a_hanging_worker_is_stopped_at_its_time_limit(tmp_path):
    command = fake_worker(tmp_path, """
        import sys, time
        sys.stderr.write("stuck in a compiler\\n"); sys.stderr.flush()
        time.sleep(600)
    """)
    outcome = run_process(ROW, make_plan("quick", worker_timeout="2"), command=command)
    assert outcome.status == "timeout"
    assert "time limit of 2 s" in outcome.reason
    assert "stuck in a compiler" in outcome.reason
    assert outcome.wall_s < 30


@pytest.mark.parametrize("linger", [
    "time.sleep(600)",  # stays alive with its output open
    "os.close(1); time.sleep(600)",  # closes its output but does not exit
])
def test_a_worker_that_lingers_after_its_result_keeps_the_result_and_is_stopped(tmp_path,
                                                                                linger):
    command = fake_worker(tmp_path, f"""
        import os, sys, time
        print('{{"event": "result", "steady_epoch_s": [0.1], "steps_per_epoch": 1}}',
              flush=True)
        {linger}
    """)
    started = time.monotonic()
    outcome = run_process(ROW, make_plan("quick", worker_timeout="120"), command=command)
    assert outcome.status == "ok"
    assert outcome.result["steady_epoch_s"] == [0.1]
    assert time.monotonic() - started < 60  # stopped after the grace, not the time limit
    assert EXIT_GRACE_S < 60


def test_the_worker_timeout_also_bounds_a_lingering_worker(tmp_path):
    command = fake_worker(tmp_path, """
        import time
        print('{"event": "progress", "stage": "epoch"}', flush=True)
        time.sleep(600)
    """)
    outcome = run_process(ROW, make_plan("quick", worker_timeout="1.5"), command=command)
    assert outcome.status == "timeout"


def test_a_diverged_loss_is_recorded_as_null_so_the_results_can_be_written(tmp_path):
    command = fake_worker(tmp_path, """
        print('{"event": "result", "steady_epoch_s": [0.1], "per_seed": '
              '[{"final_loss": NaN, "test_accuracy": 0.5}], "x": [Infinity]}', flush=True)
    """)
    record = run_process(ROW, make_plan("quick"), command=command).record().to_dict()
    assert record["per_seed"] == [{"final_loss": None, "test_accuracy": 0.5}]
    assert record["x"] == [None]
    result_format.dumps(record)  # would raise on a non-finite number


def test_noise_on_the_protocol_stream_is_ignored(tmp_path):
    command = fake_worker(tmp_path, """
        print("a library printed this")
        print("[1, 2]")
        print('{"event": "skip", "reason": "nothing to do"}')
    """)
    outcome = run_process(ROW, make_plan("quick"), command=command)
    assert (outcome.status, outcome.reason) == ("skipped", "nothing to do")


def test_a_quiet_worker_is_reported_as_still_working(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "QUIET_PROGRESS_S", 0.5)
    command = fake_worker(tmp_path, """
        import sys, time
        sys.stdout.buffer.write(b"\\xff\\xfe not UTF-8\\n"); sys.stdout.flush()
        time.sleep(2)
        print('{"event": "skip", "reason": "compiled"}')
    """)
    heard = []
    outcome = run_process(ROW, make_plan("quick"), command=command,
                          on_progress=lambda row, index, m: heard.append(m))
    assert outcome.status == "skipped"
    assert [m["stage"] for m in heard][:1] == ["quiet"]
    assert heard[0]["elapsed_s"] > 0


def test_worker_exiting_without_a_result_fails(tmp_path):
    command = fake_worker(tmp_path, "pass\n")
    outcome = run_process(ROW, make_plan("quick"), command=command)
    assert outcome.status == "failed"
    assert "status 0" in outcome.reason


def test_workers_leave_nothing_in_tmpdir(tmp_path, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    command = fake_worker(tmp_path, """
        import os
        for name in ("TMPDIR", "MPLCONFIGDIR", "XDG_CACHE_HOME", "KERAS_HOME",
                     "TORCHINDUCTOR_CACHE_DIR"):
            os.makedirs(os.environ[name], exist_ok=True)
            open(os.path.join(os.environ[name], "cached"), "w").write("x")
        print('{"event": "skip", "reason": "done"}')
    """)
    outcomes = run_row(ROW, make_plan("quick", processes="2"), command=command)
    assert [o.status for o in outcomes] == ["skipped", "skipped"]
    assert list(tmp.iterdir()) == []


def test_the_slow_fault_names_a_row_and_a_factor(monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "slow:torch-loop-cpu-b32:1.3")
    assert slow_factor("torch-loop-cpu-b32") == 1.3
    assert slow_factor("numpy-loop-cpu-b32") == 1.0
    monkeypatch.setenv(FAULT_ENV, "crash:torch-loop-cpu-b32")
    assert slow_factor("torch-loop-cpu-b32") == 1.0


_REAL_SLEEP = time.sleep  # before any test replaces it


class _SleepyTwin:
    """A twin whose epoch takes a known time, to see where the slow fault's sleep falls."""

    def __init__(self):
        self.inside_s = None
        self.spec = SimpleNetSpec(n_train=4)

    def synchronize(self):
        pass

    def run_epoch(self, X, y):
        start = time.perf_counter()
        time.sleep(0.02)
        self.inside_s = time.perf_counter() - start
        return 0.5


def test_the_slow_fault_stretches_the_timed_region():
    twin = _SleepyTwin()
    X, y = make_dataset(twin.spec).epoch_arrays(0)
    epoch = timed_epoch(twin, X, y, slow=3.0)
    # the wait lasts at least as long as asked: the timed region holds the epoch and 2x more
    assert epoch.seconds >= 3.0 * twin.inside_s
    assert epoch.loss == 0.5



def test_the_slow_fault_waits_busy_as_extra_work_would(monkeypatch):
    # A sleep would leave the CPU to the other rows' workers and miss the machine's noise;
    # the fault must spin. (Its CPU time is no proof on a loaded machine: preempted.)
    twin = _SleepyTwin()
    X, y = make_dataset(twin.spec).epoch_arrays(0)

    def no_sleep(seconds):
        raise AssertionError("the slow fault slept")

    monkeypatch.setattr(time, "sleep", no_sleep)
    twin_sleep = _REAL_SLEEP
    monkeypatch.setattr(twin, "run_epoch", lambda X, y: (twin_sleep(0.01), 0.5)[1])
    epoch = timed_epoch(twin, X, y, slow=2.0)
    assert epoch.seconds >= 0.02 and epoch.loss == 0.5


def test_process_samples_feed_the_summary():
    plan = make_plan("quick", n_train="1000", batch_size="256", epochs="2", processes="3")
    record = res.new_row(ROW)
    for outcome in run_row(ROW, plan):
        record.processes.append(outcome.record())
    summary = summaries.summarize(record)
    assert summary.processes_ok == 3
    assert summary.spread_iqr_pct is not None
    assert summary.us_per_step_ci_low <= summary.us_per_step <= summary.us_per_step_ci_high
    assert summary.n_seeds == 1  # one seed, trained by every process, counted once


# A worker killed by a C++ check: glog's fatal line, then its native stack, whose last line
# (an address and a symbol) says nothing of why.
GLOG_CRASH = """\
2026-12-04 10:00:00.000 I external/local_tsl/tsl/platform/cpu_feature_guard.cc:210] info
F1204 10:00:01.123 4242 matmul_op.cc:77] Check failed: a.dim_size(1) == b.dim_size(0) (16 vs. 10)
*** Check failure stack trace: ***
    @     0x7f15f2fa1a2b  tensorflow::MatMulOp::Compute()
    @     0x7f15f2fa6ce3  cfunction_call
"""
PYTHON_CRASH = """\
W0000 00:00:1700000000.000 1 some_warning.cc:1] failed to load an optional plugin
Traceback (most recent call last):
  File "worker.py", line 3, in <module>
    raise RuntimeError("injected crash")
RuntimeError: injected crash in numpy-loop-cpu-b32
"""
FAULTHANDLER_CRASH = """\
Fatal Python error: Segmentation fault

Current thread 0x00007f15f2fa6ce3 (most recent call first):
  File "/x/site-packages/jax/_src/compiler.py", line 266 in backend_compile
    @ 0x7f15f2fa6ce3 cfunction_call
"""


# Tails as the frameworks write them, the formats taken from their issue trackers: harmless
# warnings and information logs that say "failed" or "error" come before the real cause.
# TensorFlow without a GPU: an E-level cuInit line and a W line, then the abseil CHECK that
# killed the worker (tensorflow/tensorflow#37689, tsl's env.cc).
TENSORFLOW_THREADS = """\
2026-12-04 10:00:00.221260: E external/local_xla/xla/stream_executor/cuda/cuda_driver.cc:152] \
failed call to cuInit: UNKNOWN ERROR (303)
W0000 00:00:1764842400.221275 4242 gpu_device.cc:2341] Cannot dlopen some GPU libraries: \
failed to load libcudnn.so.9
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
F0000 00:00:1764842401.294567 4242 env.cc:93] Check failed: ret == 0 (11 vs. 0)Thread \
tf_numa_-1_Eigen creation via pthread_create() failed.
*** Check failure stack trace: ***
    @     0x7f15f2fa1a2b  absl::log_internal::LogMessageFatal::~LogMessageFatal()
    @     0x7f15f2fa6ce3  cfunction_call
"""
# torch importing against the wrong numpy warns "Failed to initialize NumPy" (a UserWarning
# with its source line under it; pytorch/pytorch#60252), then a native crash.
TORCH_ABORT = """\
/x/site-packages/torch/nn/modules/transformer.py:20: UserWarning: Failed to initialize \
NumPy: _ARRAY_API not found (Triggered internally at /pytorch/torch/csrc/utils/tensor_numpy.cpp:84.)
  device: torch.device = torch.device(torch._C._get_default_device()),
Fatal Python error: Aborted

Thread 0x00007f15f2fa6ce3 (most recent call first):
  File "/x/site-packages/torch/optim/adam.py", line 166 in step
"""
# jax without a GPU: Python's logging at WARNING and abseil's I lines name failures
# (jax-ml/jax#16995, google-deepmind/alphafold3#172); LLVM then runs out of memory.
JAX_OOM = """\
WARNING:jax._src.xla_bridge:CUDA backend failed to initialize: Unable to load CUDA. \
(Set TF_CPP_MIN_LOG_LEVEL=0 and rerun for more info.)
I1204 13:13:42.886529 139807170155648 xla_bridge.py:895] Unable to initialize backend \
'tpu': INTERNAL: Failed to open libtpu.so: cannot open shared object file
LLVM ERROR: out of memory
Allocation failed
"""
# Only warnings and an error-level log: the E line is the best there is.
ONLY_LOGS = """\
W0000 00:00:1764842400.221275 4242 cpu_feature_guard.cc:210] failed to read a CPU flag
E0000 00:00:1764842400.300000 4242 cuda_blas.cc:1418] Unable to register cuBLAS factory: \
Attempting to register factory for plugin cuBLAS when one has already been registered
"""
# Nothing but warnings: the first that names a failure, since nothing better is there.
ONLY_WARNINGS = """\
W0000 00:00:1764842400.221275 4242 gpu_device.cc:2341] Cannot dlopen some GPU libraries.
/x/site-packages/keras/src/backend.py:9: UserWarning: Failed to find a GPU, running on CPU
  warnings.warn("Failed to find a GPU, running on CPU")
"""


@pytest.mark.parametrize(("tail", "line"), [
    (GLOG_CRASH, "F1204 10:00:01.123 4242 matmul_op.cc:77] Check failed: a.dim_size(1) == "
                 "b.dim_size(0) (16 vs. 10)"),
    (PYTHON_CRASH, "RuntimeError: injected crash in numpy-loop-cpu-b32"),
    (FAULTHANDLER_CRASH, "Fatal Python error: Segmentation fault"),
    ("loading\n    @ 0x7f15f2fa6ce3 cfunction_call\n", "loading"),  # no error named
    ("    @ 0x7f15f2fa6ce3 cfunction_call", "@ 0x7f15f2fa6ce3 cfunction_call"),
    (TENSORFLOW_THREADS, "F0000 00:00:1764842401.294567 4242 env.cc:93] Check failed: ret == 0 "
                         "(11 vs. 0)Thread tf_numa_-1_Eigen creation via pthread_create() "
                         "failed."),
    (TORCH_ABORT, "Fatal Python error: Aborted"),
    (JAX_OOM, "LLVM ERROR: out of memory"),
    (ONLY_LOGS, "E0000 00:00:1764842400.300000 4242 cuda_blas.cc:1418] Unable to register "
                "cuBLAS factory: Attempting to register factory for plugin cuBLAS when one "
                "has already been registered"),
    (ONLY_WARNINGS, "/x/site-packages/keras/src/backend.py:9: UserWarning: Failed to find a "
                    "GPU, running on CPU"),
])
def test_a_failed_workers_reason_is_its_most_telling_line(tail, line):
    assert failure.telling_line(tail) == line


def test_a_crash_under_a_native_stack_gives_the_check_that_failed_and_keeps_the_tail(tmp_path):
    command = fake_worker(tmp_path, f"""
        import sys
        sys.stderr.write({GLOG_CRASH!r})
        sys.exit(-6 % 256)
    """)
    outcome = run_process(ROW, make_plan("quick"), command=command)
    assert outcome.status == "failed"
    assert outcome.reason.splitlines()[0] == (
        "worker exited with status 250: F1204 10:00:01.123 4242 matmul_op.cc:77] Check failed: "
        "a.dim_size(1) == b.dim_size(0) (16 vs. 10)")
    assert outcome.stderr_tail == GLOG_CRASH.strip()  # the tail, as before


def test_a_launchers_variables_around_the_coordinator_do_not_reach_its_workers(monkeypatch):
    """pytest run inside a torchrun, SLURM or Keras-distributed job: with RANK=1 inherited,
    every worker took itself for a silent rank and reported nothing."""
    for name, value in [("RANK", "1"), ("LOCAL_RANK", "1"), ("WORLD_SIZE", "4"),
                        ("MASTER_PORT", "29500"), ("KERAS_DISTRIBUTION_PROCESS_ID", "1"),
                        ("SIDEBYSIDE_JOB", "/elsewhere/job.json"), ("KEEP_ME", "yes")]:
        monkeypatch.setenv(name, value)
    env = runner.worker_env(ROW, make_plan("quick"), "/tmp/x")
    assert not runner.INHERITED_NOT_PASSED & set(env)
    assert env["KEEP_ME"] == "yes"
    assert env["SIDEBYSIDE_COORDINATOR_PID"] == str(__import__("os").getpid())


def test_a_real_worker_reports_its_result_under_an_inherited_rank(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("SIDEBYSIDE_JOB", "/nonexistent/job.json")
    plan = make_plan("quick", n_train="200", batch_size="32")
    outcome = run_process(Row("numpy", "loop", "cpu", 32), plan)
    assert outcome.status == "ok", outcome.reason


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_worker_whose_coordinator_is_already_gone_exits_at_once():
    """The race PR_SET_PDEATHSIG leaves: a coordinator that died before the worker's prctl
    call. The worker then has another parent than the pid it was given, and exits."""
    import os
    import subprocess

    from tests.helpers import framework_env

    env = framework_env(SIDEBYSIDE_COORDINATOR_PID=str(os.getpid() + 1_000_000))
    proc = subprocess.run([sys.executable, "-P", "-m", "benchmarks.worker"], input="",
                          capture_output=True, text=True, env=env, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", "")  # no job was read
