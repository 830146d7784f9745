"""Fixtures shared by the test modules of one session.

The parity modules train every twin in subprocesses (tests/parity_trace.py), and starting
a framework costs seconds of CPU (TensorFlow about 5): each module names what it needs
traced, and the session traces the union once, in one process per implementation.
"""

import pytest

from tests.helpers import framework_env, run_parity_traces


def _requested(session) -> tuple[list[str], list[dict]]:
    """The labels (``TRACE_LABELS``: ``NAME:MODE`` at tests/parity_trace.py's spec) and
    regimes (``TRACE_REGIMES``: traced for numpy and every installed twin) named by the
    modules of the tests this session runs, each once, in the modules' order."""
    labels, regimes = [], []
    modules = dict.fromkeys(item.module for item in session.items
                            if getattr(item, "module", None) is not None)
    for module in modules:
        labels += [label for label in getattr(module, "TRACE_LABELS", ()) if label not in labels]
        regimes += [regime for regime in getattr(module, "TRACE_REGIMES", ())
                    if regime not in regimes]
    return labels, regimes


@pytest.fixture(scope="session")
def parity_traces(request, tmp_path_factory) -> dict[str, dict]:
    """``NAME:MODE`` -> that mode's trace for every label of ``TRACE_LABELS``, and ``NAME``
    -> the arrays of every regime of ``TRACE_REGIMES`` (keys ``REGIME/...``) for numpy and
    each installed twin, over the modules of this session's tests."""
    labels, regimes = _requested(request.session)
    out_dir = tmp_path_factory.mktemp("parity")
    env = framework_env(tmp_path_factory, TORCHINDUCTOR_CACHE_DIR=str(out_dir / "inductor"))
    return run_parity_traces(labels, regimes, out_dir, env)
