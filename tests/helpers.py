"""Helpers shared by the tests."""

import os
import subprocess
import sys
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


def run_python(code: str, env=None, timeout=300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (a fresh Keras backend, a fresh import state)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env or framework_env(), timeout=timeout, cwd=ROOT)


TRACE = Path(__file__).with_name("parity_trace.py")


def run_traces(labels, out_dir: Path, env: dict, *extra_args: str) -> dict[str, dict]:
    """Run tests/parity_trace.py for each label, two processes at a time (two cores), and
    return each label's arrays; a failing script fails the test with its output's tail."""
    def command(label, path):
        return [sys.executable, str(TRACE), label, str(path), *extra_args]

    return run_two_at_a_time(labels, out_dir, env, command)


def run_two_at_a_time(labels, out_dir: Path, env: dict, command, cwd=None) -> dict[str, dict]:
    """Run ``command(label, path)`` for each label, two processes at a time (two cores); each
    writes its arrays to ``path`` (an .npz in ``out_dir``). Returns each label's arrays; a
    failing command fails the test with its output's tail."""
    pending, running, results = list(labels), {}, {}
    while pending or running:
        while pending and len(running) < 2:
            label = pending.pop(0)
            path = out_dir / f"{label.replace(':', '_')}.npz"
            running[label] = (path, subprocess.Popen(
                command(label, path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, env=env, cwd=cwd))
        label = next(iter(running))
        path, proc = running.pop(label)
        output, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{label} failed:\n{output[-3000:]}"
        results[label] = dict(np.load(path))
    return results


def run_regime_traces(tmp_path_factory, folder: str, regimes: list[dict]) -> dict[str, dict]:
    """tests/parity_trace.py's arrays for ``regimes`` from numpy and every installed twin
    (label -> arrays), two processes at a time; the shared fixture of the edge and width
    parity tests."""
    import json

    from frameworks import IMPLEMENTATIONS

    out_dir = tmp_path_factory.mktemp(folder)
    regimes_path = out_dir / "regimes.json"
    regimes_path.write_text(json.dumps(regimes))
    # The script's folder, not the working directory, leads sys.path: point it at this tree.
    env = framework_env(tmp_path_factory, PYTHONPATH=str(ROOT))
    installed = [name for name in IMPLEMENTATIONS if not IMPLEMENTATIONS[name].missing()]
    installed.sort(key=lambda name: name != "numpy")  # numpy, the reference, first
    return run_traces(installed, out_dir, env, str(regimes_path))


def trace_of(traces: dict, label: str) -> dict:
    """``label``'s arrays, or a skip naming what is not installed."""
    import pytest

    from frameworks import IMPLEMENTATIONS

    if label not in traces:
        pytest.skip(f"{label} is not installed: {', '.join(IMPLEMENTATIONS[label].missing())}")
    return traces[label]
