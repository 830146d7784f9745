"""Helpers shared by the tests."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# Quiet, self-contained framework imports in every subprocess the tests start.
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "PYTHONWARNINGS": "ignore",
}


def framework_env(tmp_path_factory=None, **extra):
    # This checkout first: a script run by path (tests/parity_trace.py) would otherwise
    # import the installed copy of the packages, which may be another checkout.
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, **QUIET_ENV, "PYTHONPATH": path, **extra}
    if tmp_path_factory is not None:
        env.setdefault("KERAS_HOME", str(tmp_path_factory.mktemp("keras_home")))
    return env


def compile_cache_env() -> dict:
    """The environment that gives a test's process jax's persistent compilation cache (jax,
    and Keras on jax, keep their XLA executables there): the caller's
    JAX_COMPILATION_CACHE_DIR where it sets one, else a folder of the tests' own in the
    temporary directory, kept between sessions. By default the cache takes none of this
    net's compiles (each under its 1 s threshold), so both thresholds are 0: a later
    process that compiles the same computation (within a session too: the same twin in
    another test's process) loads it instead. Only the compile is reused, never a result;
    jax still traces and lowers every function (and logs each such compile). The
    benchmark's own workers compile cold, as a user's do: not for them."""
    folder = os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.join(
        tempfile.gettempdir(), f"jax-cache-sidebyside-tests-{os.getuid()}")
    return {"JAX_COMPILATION_CACHE_DIR": folder,
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def run_python(code: str, env=None, timeout=300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (a fresh Keras backend, a fresh import state);
    without ``env``, with jax's compilation cache (``compile_cache_env``)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env or framework_env(**compile_cache_env()), timeout=timeout,
                          cwd=ROOT)


TRACE = Path(__file__).with_name("parity_trace.py")


def run_two_at_a_time(labels, out_dir: Path, env: dict, command, cwd=None) -> dict[str, dict]:
    """Run ``command(label, path)`` for each label, two processes at a time (two cores); each
    writes its arrays to ``path`` (an .npz in ``out_dir``). Returns each label's arrays; a
    failing command fails the test with its output's tail."""
    paths = {label: out_dir / f"{label.replace(':', '_')}.npz" for label in labels}
    run_commands({label: command(label, path) for label, path in paths.items()}, env, cwd)
    return {label: dict(np.load(path)) for label, path in paths.items()}


def run_commands(commands: dict[str, list[str]], env: dict, cwd=None,
                 timeout_s: float = 900) -> None:
    """Run each command, in the order given, two processes at a time (two cores): the next
    one starts as soon as either finishes. A failing command fails the test with its
    output's tail."""
    pending, running = list(commands.items()), {}
    started = {}
    try:
        while pending or running:
            while pending and len(running) < 2:
                name, argv = pending.pop(0)
                output = tempfile.TemporaryFile("w+")  # a file, not a pipe: never full
                running[name] = (subprocess.Popen(argv, stdout=output,
                                                  stderr=subprocess.STDOUT, text=True,
                                                  env=env, cwd=cwd), output)
                started[name] = time.monotonic()
            for name, (proc, output) in list(running.items()):
                if proc.poll() is None:
                    assert time.monotonic() - started[name] < timeout_s, \
                        f"{name} still running after {timeout_s} s"
                    continue
                del running[name]
                output.seek(0)
                text = output.read()
                output.close()
                assert proc.returncode == 0, f"{name} failed:\n{text[-3000:]}"
            time.sleep(0.1)
    finally:
        for proc, output in running.values():
            proc.kill()
            proc.wait()
            output.close()


# The implementations in the order their trace processes start, two at a time: the longest
# first (Keras on TensorFlow traces five modes, two of them XLA's; torch two of inductor's),
# so that the last to finish is a short one.
_LONGEST_FIRST = ("keras-tensorflow", "torch", "keras-jax", "jax", "keras-torch", "numpy")


def run_parity_traces(labels, regimes: list[dict], out_dir: Path, env: dict,
                      refused=(), calls=()) -> dict[str, dict]:
    """tests/parity_trace.py's arrays for every label of ``labels`` (``NAME:MODE`` ->
    arrays), for ``regimes`` from numpy and every installed twin at its default mode
    (``NAME`` -> arrays of every regime), each ``refused`` label's refusal
    (``NAME:MODE`` -> {"refused": the framework's reason, or ""}) and the JSON answer of
    each ``calls`` entry ``NAME>module.function`` (the function called with ``NAME``;
    parity_trace.call), from one process per implementation (each framework imported
    once), two processes at a time."""
    import json

    from frameworks import IMPLEMENTATIONS

    jobs: dict[str, list[dict]] = {}
    for label in labels:
        jobs.setdefault(label.split(":")[0], []).append(
            {"label": label, "out": str(out_dir / f"{label.replace(':', '_')}.npz")})
    for label in refused:
        jobs.setdefault(label.split(":")[0], []).append(
            {"label": label, "out": str(out_dir / f"{label.replace(':', '_')}.refused.npz"),
             "refused": True})
    for label in calls:
        name, _, function = label.partition(">")
        jobs.setdefault(name, []).append(
            {"label": name, "call": function,
             "out": str(out_dir / f"{name}.{function}.json")})
    if regimes:
        for name in IMPLEMENTATIONS:
            if not IMPLEMENTATIONS[name].missing():
                jobs.setdefault(name, []).append(
                    {"label": name, "out": str(out_dir / f"{name}.regimes.npz"),
                     "regimes": regimes})
    commands = {}
    for name in sorted(jobs, key=lambda n: (_LONGEST_FIRST + (n,)).index(n)):
        job_path = out_dir / f"{name}.job.json"
        job_path.write_text(json.dumps(jobs[name]))
        commands[name] = [sys.executable, str(TRACE), "--job", str(job_path)]
    run_commands(commands, env)
    return {f"{entry['label']}>{entry['call']}" if entry.get("call") else entry["label"]:
            json.loads(Path(entry["out"]).read_text()) if entry.get("call")
            else dict(np.load(entry["out"])) for job in jobs.values() for entry in job}


def trace_of(traces: dict, label: str) -> dict:
    """``label``'s arrays, or a skip naming what is not installed."""
    import pytest

    from frameworks import IMPLEMENTATIONS

    if label not in traces:
        pytest.skip(f"{label} is not installed: {', '.join(IMPLEMENTATIONS[label].missing())}")
    return traces[label]
