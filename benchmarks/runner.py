"""Run one row's worker process and bring back what it measured, whatever happens to it."""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.failure import telling_line
from benchmarks.plan import (
    TARGET_GAP,
    Plan,
    Row,
    known_refusal,
    launcher,
    replica_skip_reason,
    threads_per_process,
    total_threads,
)
from results.format import without_non_finite
from results.model import Process

ROOT = Path(__file__).resolve().parents[1]  # the repository (or the installed packages' folder)
STDERR_TAIL_CHARS = 2000


# After a worker has sent its result it should exit at once; one that lingers (a stuck
# thread pool at exit, say) is stopped after this long and its result kept.
EXIT_GRACE_S = 5.0
# With no word from a worker for this long, progress says that it is still working
# (torch.compile's first epoch takes 15 s or more).
QUIET_PROGRESS_S = 10.0


@dataclasses.dataclass
class Outcome:
    """One worker process of a row: ``status`` ok, skipped, failed or timeout.

    ``result`` holds the worker's measurements (docs/result_format.md's ``Process`` fields)
    when ok; ``stderr_tail`` the end of its stderr when it failed or timed out.
    """

    row: Row
    status: str
    result: dict | None = None
    reason: str = ""
    progress: list = dataclasses.field(default_factory=list)
    wall_s: float = 0.0
    stderr_tail: str = ""
    index: int = 0
    seeds: tuple[int, ...] = ()
    cold_cache: bool = True
    ready: bool = False  # a resident worker has trained and waits for sample commands
    samples_epoch_s: list = dataclasses.field(default_factory=list)  # as they arrive
    sampled_with: tuple[str, ...] | None = None  # a resident worker's round-mates' row ids

    def record(self) -> Process:
        """The process as the result file holds it (results.model.Process): the worker's
        result line, read here once, with what the coordinator knows of the process."""
        base = {"index": self.index, "status": self.status, "reason": self.reason,
                "wall_s": self.wall_s, "seeds": list(self.seeds),
                "cold_cache": self.cold_cache}
        if self.sampled_with is not None:
            base["sampled_with"] = list(self.sampled_with)
        # The file holds no NaN or infinity: a diverged loss becomes null.
        return Process.from_dict(without_non_finite((self.result or {}) | base))


# A launcher's variables in the coordinator's own environment (pytest run inside a torchrun,
# SLURM or Keras-distributed job) are not the worker's: with RANK=1 every worker thought it
# was a silent rank and reported nothing, and SIDEBYSIDE_JOB made it read another job. A
# data-parallel row's launcher sets its own (torchrun_command, _run).
INHERITED_NOT_PASSED = frozenset({
    "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
    "ROLE_RANK", "ROLE_WORLD_SIZE", "ROLE_NAME", "MASTER_ADDR", "MASTER_PORT",
    "TORCHELASTIC_RUN_ID", "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID", "SIDEBYSIDE_JOB",
})


def package_root() -> Path:
    """The folder holding our packages: the workers import benchmarks/, frameworks/ from it."""
    return Path(__file__).resolve().parents[1]


def worker_env(row: Row, plan: Plan, scratch: str, cache: str | None = None) -> dict:
    """The worker's environment: set before its interpreter starts, so every library sees it.

    ``scratch`` is the process's own folder (its TMPDIR); ``cache`` the row's cache folder,
    shared by the row's processes (so that later processes may find compiled kernels:
    recorded as ``cold_cache``). Both lie inside the run's scratch folder, which the
    coordinator removes at the end, so no cache outlives the run.
    """
    env = {name: value for name, value in os.environ.items()
           if name not in INHERITED_NOT_PASSED}
    cache = cache or os.path.join(scratch, "cache")
    n = str(threads_per_process(row, plan))
    env.update({
        "PYTHONUNBUFFERED": "1",
        "PYTHONWARNINGS": "ignore",
        # Our packages, whatever the working directory holds (the worker runs with -P).
        "PYTHONPATH": os.pathsep.join(filter(None, [str(package_root()),
                                                    env.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "OPENBLAS_NUM_THREADS": n,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_ENABLE_ONEDNN_OPTS": env.get("TF_ENABLE_ONEDNN_OPTS", "0"),
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",  # TensorFlow's peak, not its whole pool
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",  # the same for jax
        # Every cache inside the run's scratch folder: a cold compile in every run, and
        # nothing left in $TMPDIR or the home directory afterwards.
        "KERAS_HOME": os.path.join(cache, "keras"),
        "TORCHINDUCTOR_CACHE_DIR": os.path.join(cache, "inductor"),
        "MPLCONFIGDIR": os.path.join(cache, "matplotlib"),
        "XDG_CACHE_HOME": os.path.join(cache, "xdg"),
        "TMPDIR": os.path.join(scratch, "tmp"),  # made by _run
        # The worker dies with this process, even one killed by SIGKILL (worker.py).
        "SIDEBYSIDE_COORDINATOR_PID": str(os.getpid()),
    })
    if threads_per_process(row, plan) == 1:
        # Only "--" flags: XLA stops reading XLA_FLAGS at the first token without them (a
        # bare "intra_op_parallelism_threads=1", once here, hid every flag after it).
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                            " --xla_cpu_multi_thread_eigen=false").strip()
    if row.device == "cpu":
        # A CPU row sees no GPU at all, so no framework builds a CUDA context on the side.
        env["CUDA_VISIBLE_DEVICES"] = ""
        env["JAX_PLATFORMS"] = "cpu"
    return env


def nvidia_gpu_visible() -> bool:
    """Whether this machine shows an NVIDIA GPU at all (checked without importing a framework)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return False
    return (Path("/proc/driver/nvidia/gpus").is_dir() or Path("/dev/nvidiactl").exists()
            or shutil.which("nvidia-smi") is not None)


def machine_devices() -> tuple[str, ...]:
    """The devices this machine has, in plan order: ("cpu",), or ("cpu", "cuda") where an
    NVIDIA GPU is visible (``nvidia_gpu_visible``)."""
    return ("cpu", "cuda") if nvidia_gpu_visible() else ("cpu",)


NO_GPU = "no NVIDIA GPU on this machine (no driver, no /dev/nvidiactl, no nvidia-smi)"


def reason_not_to_start(row: Row, plan: Plan, command=None) -> str | None:
    """Why ``row``'s worker is not started at all (one sentence, its skip reason), or None:
    a CUDA row on a machine that shows no NVIDIA GPU (``command`` None: a test's own worker
    command starts anyway), a variant the installed framework is known to refuse
    (``known_refusal``), a data-parallel row its replicas cannot split
    (``replica_skip_reason``). Each saves starting a framework only to hear the same."""
    if row.device == "cuda" and command is None and not nvidia_gpu_visible():
        return NO_GPU
    return known_refusal(row.variant) or replica_skip_reason(row, plan)


def run_process(row: Row, plan: Plan, index: int = 0, on_progress=None, command=None,
                scratch_root: str | None = None) -> Outcome:
    """Run process ``index`` of ``row`` in a worker; never raises for the worker's sake.

    Only KeyboardInterrupt (and the SIGTERM the plugin turns into one) passes through,
    after the worker's process group is killed. ``command`` replaces the worker's command
    line (the tests use it to play a worker that crashes, hangs or lingers);
    ``scratch_root`` is the run's scratch folder (a temporary one when None).
    ``on_progress(row, index, message)`` hears the worker's progress, and a ``stage:
    "quiet"`` message after every ``QUIET_PROGRESS_S`` without a word.
    """
    seeds = plan.seeds_for(index)
    reason = reason_not_to_start(row, plan, command)
    if reason:
        return Outcome(row, "skipped", reason=reason, index=index, seeds=seeds)
    with tempfile.TemporaryDirectory(prefix="sidebyside-", dir=scratch_root) as own:
        root = scratch_root or own
        scratch = tempfile.mkdtemp(prefix=f"{row.id}-p{index}-", dir=root)
        cache = os.path.join(root, "cache", row.id)
        try:
            return _run(row, plan, index, seeds, on_progress, command, scratch, cache)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def run_row(row: Row, plan: Plan, on_progress=None, command=None) -> list[Outcome]:
    """All of ``row``'s processes one after another (the plugin interleaves rows instead)."""
    with tempfile.TemporaryDirectory(prefix="sidebyside-") as scratch_root:
        return [run_process(row, plan, index, on_progress, command, scratch_root)
                for index in range(plan.processes)]


def torchrun_command(plan: Plan) -> list[str]:
    """torch-ddp's worker under PyTorch's own launcher, one process per replica.

    torchrun rather than torch.multiprocessing inside the worker: the processes then get
    RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT from the launcher, exactly as
    under ``torchrun --nnodes`` on several machines (README, "Data parallel"), and the worker
    runs unchanged in each of them. ``--standalone`` picks a free port on this machine.
    """
    # torch.distributed.run through launch_torchrun: it dies with the coordinator, as workers do
    return [sys.executable, "-P", "-c", "from benchmarks.worker import launch_torchrun; "
            "launch_torchrun()", "--standalone",
            "--nnodes=1", f"--nproc-per-node={plan.replicas}", "-m", "benchmarks.worker"]


def _run(row, plan, index, seeds, on_progress, command, scratch, cache) -> Outcome:
    cpus = plan.cpus_for_worker(total_threads(row, plan))
    job = {"row": dataclasses.asdict(row), "plan": plan.to_dict() | {"target_gap": TARGET_GAP},
           "index": index, "seeds": list(seeds), "cpus": cpus}
    env = worker_env(row, plan, scratch, cache)
    if launcher(row) == "torchrun" and command is None:
        command = torchrun_command(plan)
        # The launcher's processes cannot share one stdin: the job goes in a file too.
        env["SIDEBYSIDE_JOB"] = os.path.join(scratch, "job.json")
        with open(env["SIDEBYSIDE_JOB"], "w") as fh:
            json.dump(job, fh)
    outcome = Outcome(row, "failed", index=index, seeds=seeds,
                      cold_cache=not os.path.isdir(cache))
    os.makedirs(cache, exist_ok=True)
    os.makedirs(os.path.join(scratch, "tmp"))
    started = time.perf_counter()
    with open(os.path.join(scratch, "stderr"), "w+") as stderr:
        # -P and cwd=scratch: a benchmarks/ folder in the user's working directory cannot
        # shadow ours; PYTHONPATH (worker_env) points at our packages instead.
        proc = subprocess.Popen(
            command or [sys.executable, "-P", "-m", "benchmarks.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True,
            errors="replace",  # a library's stray bytes must not stop the reading thread
            cwd=scratch, env=env, start_new_session=True)
        try:
            _converse(proc, job, outcome, plan, started, on_progress)
        except BaseException:
            kill_group(proc)  # Ctrl-C or SIGTERM: no worker is left behind
            raise
        kill_group(proc)  # whatever it started and left behind
        if outcome.status == "failed" and not outcome.reason:
            outcome.reason = f"worker exited with status {proc.returncode}"
        if outcome.status in ("failed", "timeout"):
            stderr.seek(0)
            tail = stderr.read()[-STDERR_TAIL_CHARS:].strip()
            outcome.stderr_tail = tail
            if tail:
                # The first line names the failure: the tail's most telling line.
                outcome.reason += f": {telling_line(tail)}\n--- worker stderr (tail) ---\n{tail}"
            else:
                outcome.reason += " (no stderr)"
    outcome.wall_s = time.perf_counter() - started
    return outcome


def _converse(proc, job, outcome, plan, started, on_progress) -> None:
    """Send the job, read the worker's lines until it ends, lingers or runs out of time."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=pump_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        proc.stdin.write(json.dumps(job))
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass
    deadline = started + plan.worker_timeout_s
    last_word = time.perf_counter()
    while True:
        now = time.perf_counter()
        if outcome.status in ("ok", "skipped"):
            # It has said all it had to: give it a short grace to exit, then stop it.
            deadline = min(deadline, now + EXIT_GRACE_S)
        try:
            line = lines.get(timeout=max(0.0, min(1.0, deadline - now)))
        except queue.Empty:
            now = time.perf_counter()
            if now >= deadline:
                if outcome.status not in ("ok", "skipped"):
                    outcome.status = "timeout"
                    outcome.reason = (f"worker exceeded its time limit of "
                                      f"{plan.worker_timeout_s:g} s")
                return
            if on_progress and now - last_word >= QUIET_PROGRESS_S:
                last_word = now
                on_progress(outcome.row, outcome.index,
                            {"stage": "quiet", "elapsed_s": now - started})
            continue
        if line is None:  # the worker closed its output: it has ended (or will, soon)
            try:
                proc.wait(timeout=max(0.0, min(EXIT_GRACE_S, deadline - time.perf_counter())))
            except subprocess.TimeoutExpired:
                pass  # lingering without output: kill_group stops it
            return
        last_word = time.perf_counter()
        take_message(outcome, line, on_progress)


def take_message(outcome: Outcome, line: str, on_progress) -> None:
    """Keep what one line of the worker's protocol says in ``outcome``; a line that is not
    one of the protocol's JSON objects is ignored."""
    try:
        message = json.loads(line)
    except json.JSONDecodeError:
        return  # not ours: the worker only writes JSON lines on this stream
    if not isinstance(message, dict):
        return
    event = message.pop("event", None)
    if event == "progress":
        outcome.progress.append(message)
        if on_progress:
            on_progress(outcome.row, outcome.index, message)
    elif event == "ready":
        outcome.ready = True
    elif event == "sample":
        outcome.samples_epoch_s.append(message["epoch_s"])
    elif event == "result":
        outcome.status, outcome.result = "ok", message
    elif event == "skip":
        outcome.status, outcome.reason = "skipped", message.get("reason", "")


def pump_lines(stream, lines: queue.Queue) -> None:
    """Put each line of ``stream`` on ``lines``, then None when it closes (in a thread of its
    own, so that the reader can wait with a time limit)."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def kill_group(proc: subprocess.Popen) -> None:
    """Kill the worker's process group (the worker and anything it started) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
