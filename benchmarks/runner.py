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

from benchmarks.options import TARGET_GAP, Plan, Row

ROOT = Path(__file__).resolve().parents[1]
STDERR_TAIL_CHARS = 2000


@dataclasses.dataclass
class Outcome:
    """``status`` is ok, skipped, failed or timeout; ``result`` is the worker's on ok."""

    row: Row
    status: str
    result: dict | None = None
    reason: str = ""
    progress: list = dataclasses.field(default_factory=list)
    wall_s: float = 0.0


def worker_env(row: Row, plan: Plan, scratch: str) -> dict:
    """The worker's environment: set before its interpreter starts, so every library sees it."""
    env = dict(os.environ)
    n = str(plan.threads)
    env.update({
        "PYTHONUNBUFFERED": "1",
        "PYTHONWARNINGS": "ignore",
        "OMP_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "OPENBLAS_NUM_THREADS": n,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_ENABLE_ONEDNN_OPTS": env.get("TF_ENABLE_ONEDNN_OPTS", "0"),
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",  # TensorFlow's peak, not its whole pool
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",  # the same for jax
        "KERAS_HOME": os.path.join(scratch, "keras"),
        # A fresh cache: torch.compile's first epoch is a cold compile in every run.
        "TORCHINDUCTOR_CACHE_DIR": os.path.join(scratch, "inductor"),
    })
    if plan.threads == 1:
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                            " --xla_cpu_multi_thread_eigen=false"
                            " intra_op_parallelism_threads=1").strip()
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


def run_row(row: Row, plan: Plan, on_progress=None, command=None) -> Outcome:
    """Run ``row`` in a worker; never raises for the worker's sake (KeyboardInterrupt aside).

    ``command`` replaces ``python -m benchmarks.worker`` (the tests use it to play a
    worker that crashes or hangs).
    """
    if row.device == "cuda" and command is None and not nvidia_gpu_visible():
        # Saves starting a framework only to hear that it sees no GPU either.
        return Outcome(row, "skipped", reason="no NVIDIA GPU on this machine (no driver, "
                       "no /dev/nvidiactl, no nvidia-smi)")
    job = {"row": dataclasses.asdict(row), "plan": plan.to_dict() | {"target_gap": TARGET_GAP}}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sidebyside-") as scratch, \
            open(os.path.join(scratch, "stderr"), "w+") as stderr:
        proc = subprocess.Popen(
            command or [sys.executable, "-m", "benchmarks.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True,
            cwd=ROOT, env=worker_env(row, plan, scratch), start_new_session=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        outcome = Outcome(row, "failed")
        try:
            proc.stdin.write(json.dumps(job))
            proc.stdin.close()
        except BrokenPipeError:
            pass
        deadline = started + plan.worker_timeout_s
        try:
            while True:
                try:
                    line = lines.get(timeout=max(0.0, min(1.0, deadline - time.perf_counter())))
                except queue.Empty:
                    if time.perf_counter() >= deadline:
                        _kill(proc)
                        outcome.status = "timeout"
                        outcome.reason = (f"worker exceeded its time limit of "
                                          f"{plan.worker_timeout_s:g} s")
                        break
                    continue
                if line is None:  # the worker closed its output: it has ended
                    break
                _take(outcome, line, on_progress)
            proc.wait(timeout=30)
        except BaseException:
            _kill(proc)  # Ctrl-C: no worker is left behind
            raise
        if outcome.status == "failed" and not outcome.reason:
            outcome.reason = f"worker exited with status {proc.returncode}"
        if outcome.status in ("failed", "timeout"):
            stderr.seek(0)
            tail = stderr.read()[-STDERR_TAIL_CHARS:].strip()
            if tail:
                # The first line names the failure (an exception's last line, usually).
                last = tail.splitlines()[-1].strip()
                outcome.reason += f": {last}\n--- worker stderr (tail) ---\n{tail}"
            else:
                outcome.reason += " (no stderr)"
    outcome.wall_s = time.perf_counter() - started
    return outcome


def _take(outcome: Outcome, line: str, on_progress) -> None:
    try:
        message = json.loads(line)
    except json.JSONDecodeError:
        return  # not ours: the worker only writes JSON lines on this stream
    event = message.pop("event", None)
    if event == "progress":
        outcome.progress.append(message)
        if on_progress:
            on_progress(outcome.row, message)
    elif event == "result":
        outcome.status, outcome.result = "ok", message
    elif event == "skip":
        outcome.status, outcome.reason = "skipped", message.get("reason", "")


def _pump(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker and anything it started
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
