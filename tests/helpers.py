"""Helpers shared by the tests."""

import os
import subprocess
import sys
from pathlib import Path

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
