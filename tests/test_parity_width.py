"""Parity at the sweep's largest width: the twins still compute one function.

``--sweep hidden=...`` and the sweep preset train SimpleNet at widths up to
``WIDEST`` (49,153 parameters instead of 193). Each implementation (its default mode)
runs tests/parity_trace.py's regime once, in its own process (shared with its other parity
traces, tests/conftest.py): 8 steps of batch 32 from
the shared start, compared with the numpy twin.

The tolerances are derived from the computation (tests/tolerances.py,
docs/parity_tolerances.md): the output is a sum over the hidden units, and each twin sums
in its own order (BLAS blocks, XLA's reduction trees, numpy's pairwise sum), so the bound
on that sum grows with its number of terms and their sizes, and the weights' bound with
what the gradients' bound does to Adam's step.
"""

import numpy as np
import pytest

from benchmarks.options import PRESETS
from frameworks import IMPLEMENTATIONS, SimpleNetSpec, initial_weights
from tests import tolerances
from tests.helpers import trace_of
from tests.parity_trace import edge_inputs

WIDEST = max(dict(PRESETS["sweep"]["sweeps"])["hidden"])
REGIME = {"name": f"hidden={WIDEST}",
          "spec": {"n_train": 256, "n_test": 1, "batch_size": 32, "seed": 7,
                   "hidden_size": WIDEST}}
STEPS = REGIME["spec"]["n_train"] // REGIME["spec"]["batch_size"]
KEY = REGIME["name"]
LABELS = [name for name in IMPLEMENTATIONS if name != "numpy"]


TRACE_REGIMES = [REGIME]  # traced once per session (tests/conftest.py)


@pytest.fixture(scope="module")
def traces(parity_traces):
    return parity_traces


@pytest.mark.parametrize("label", LABELS)
def test_the_widest_net_agrees_with_numpy(traces, record_property, label):
    got, want = trace_of(traces, label), traces["numpy"]
    spec = SimpleNetSpec(**REGIME["spec"])
    weights, floor = got[f"{KEY}/step_weights"], want[f"{KEY}/step_weights"]
    assert weights.shape == floor.shape == (STEPS, spec.n_parameters)
    outputs, floor_outputs = got[f"{KEY}/step_outputs"], want[f"{KEY}/step_outputs"]
    losses, floor_losses = got[f"{KEY}/step_losses"], want[f"{KEY}/step_losses"]
    _, X, y = edge_inputs(REGIME)
    bounds = tolerances.step_bounds(spec, X, y, initial_weights(spec), weights, floor)
    gaps = {"output": np.abs(outputs - floor_outputs), "loss": np.abs(losses - floor_losses),
            "weight": np.abs(weights - floor)}
    tolerances.assert_steps_within(bounds, gaps, record_property)


def test_the_widest_net_trained(traces):
    """Guards the check above against agreeing because nothing happened."""
    spec = SimpleNetSpec(**REGIME["spec"])
    start = np.concatenate([w.ravel() for w in initial_weights(spec)])
    weights = traces["numpy"][f"{KEY}/step_weights"]
    assert float(np.max(np.abs(weights[-1] - start))) > 1e-3
    assert spec.n_parameters == 12 * WIDEST + 1
