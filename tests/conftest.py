"""Fixtures shared by the test modules of one session.

The parity modules train every twin in subprocesses (tests/parity_trace.py), and starting
a framework costs seconds of CPU (TensorFlow about 5): each module names what it needs
traced, and the session traces the union once, in one process per implementation.
"""

import pytest

from tests.helpers import framework_env, run_parity_traces


def _requested(session, name: str) -> list:
    """What the modules of the tests this session runs name in their attribute ``name``,
    each once, in the modules' order."""
    wanted = []
    modules = dict.fromkeys(item.module for item in session.items
                            if getattr(item, "module", None) is not None)
    for module in modules:
        wanted += [entry for entry in getattr(module, name, ()) if entry not in wanted]
    return wanted


@pytest.fixture(scope="session")
def parity_traces(request, tmp_path_factory) -> dict[str, dict]:
    """Over the modules of this session's tests: ``NAME:MODE`` -> that mode's trace for
    every label of their ``TRACE_LABELS`` (at tests/parity_trace.py's spec), or its
    refusal (``{"refused": reason}``) for every label of ``TRACE_REFUSED``; and ``NAME``
    -> the arrays of every regime of ``TRACE_REGIMES`` (keys ``REGIME/...``) for numpy and
    each installed twin."""
    session = request.session
    out_dir = tmp_path_factory.mktemp("parity")
    env = framework_env(tmp_path_factory, TORCHINDUCTOR_CACHE_DIR=str(out_dir / "inductor"))
    return run_parity_traces(_requested(session, "TRACE_LABELS"),
                             _requested(session, "TRACE_REGIMES"), out_dir, env,
                             refused=_requested(session, "TRACE_REFUSED"))
